package e2e

// The VAPID private key at rest: VAPID_KEY_ENCRYPTION_KEY seals the key the
// service generates and stores in vapid_keys, and plain rows from before.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/keyseal"
	"github.com/evpower/evpush/adapters/postgres"
	"github.com/evpower/evpush/cmd/evpush/wiring"
	"github.com/evpower/evpush/domain"
)

// encryptionKey is a fresh VAPID_KEY_ENCRYPTION_KEY as `openssl rand
// -base64 32` prints it.
func encryptionKey(t testing.TB) string {
	t.Helper()
	b := make([]byte, keyseal.KeySize)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

// storedPrivateKey is the current key's private_key as it is at rest.
func (e *env) storedPrivateKey() string {
	e.t.Helper()
	var v string
	require.NoError(e.t, e.Svc.DB.QueryRow("SELECT private_key FROM vapid_keys WHERE state = 'current'").Scan(&v))
	return v
}

// publicKey is the key GET /vapid-public-key serves.
func (e *env) publicKey() string {
	e.t.Helper()
	r := e.call("GET", api+"/vapid-public-key", "", nil)
	require.Equal(e.t, http.StatusOK, r.Status, r.Raw)
	return r.Body["data"].(map[string]any)["public_key"].(string)
}

// requireSealedWith checks that the stored private key is sealed, opens with
// key and is keys' private key.
func (e *env) requireSealedWith(key string, keys domain.VAPIDKeys) {
	e.t.Helper()
	stored := e.storedPrivateKey()
	require.True(e.t, strings.HasPrefix(stored, keyseal.Prefix), "sealed at rest")
	require.NotContains(e.t, stored, keys.PrivateKey)
	raw, err := keyseal.ParseKey(key)
	require.NoError(e.t, err)
	s, err := keyseal.New(raw, postgres.VAPIDKeyPurpose)
	require.NoError(e.t, err)
	plain, sealed, err := s.Open(stored)
	require.NoError(e.t, err)
	require.True(e.t, sealed)
	require.Equal(e.t, keys.PrivateKey, plain)
}

// tryStart is start for a start-up expected to fail: it returns New's error,
// and what was logged meanwhile.
func tryStart(t testing.TB, vars map[string]string) (logged string, err error) {
	t.Helper()
	cfg, err := wiring.LoadConfig(func(k string) string { return vars[k] })
	require.NoError(t, err)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := wiring.New(context.Background(), cfg, log, wiring.Options{})
	if svc != nil {
		t.Cleanup(svc.Close)
	}
	return logs.String(), err
}

func TestVAPIDKeyGeneratedIsStoredEncrypted(t *testing.T) {
	t.Parallel()
	key := encryptionKey(t)
	e := setup(t, map[string]string{"VAPID_KEY_ENCRYPTION_KEY": key, "LOG_LEVEL": "debug"})

	e.requireSealedWith(key, e.Svc.CurrentKey())
	require.Equal(t, e.Svc.CurrentKey().PublicKey, e.publicKey())
	require.NotContains(t, e.Logs.String(), "plain text", "no warning with the key set")
	require.NotContains(t, e.Logs.String(), key, "no key material in logs")
	require.NotContains(t, e.Logs.String(), e.Svc.CurrentKey().PrivateKey, "no key material in logs")

	// The decrypted key signs: the push service verifies VAPID on a test push.
	tok := driverToken(t, "driver-1")
	d := e.Push.NewDevice()
	e.subscribe(tok, d, "client")
	r := e.call("POST", api+"/test", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, 1.0, r.Body["sent_to"], r.Raw)
	require.Empty(t, e.Push.Errors())

	// A restart with the same key reads the same pair.
	again := start(t, map[string]string{"DATABASE_URL": e.DBURL, "JWT_SECRET": testSecret, "VAPID_KEY_ENCRYPTION_KEY": key})
	require.Equal(t, e.Svc.CurrentKey(), again.CurrentKey())
}

func TestVAPIDKeyPlainRowIsEncryptedOnFirstStartWithKey(t *testing.T) {
	t.Parallel()
	plain := setup(t, nil) // before VAPID_KEY_ENCRYPTION_KEY existed
	require.Equal(t, plain.Svc.CurrentKey().PrivateKey, plain.storedPrivateKey(), "no key: plain text")
	before := plain.publicKey()

	// The same key in the URL-safe, unpadded form: any base64 will do.
	key := encryptionKey(t)
	raw, err := keyseal.ParseKey(key)
	require.NoError(t, err)
	sealed := setupOn(t, plain.DBURL, plain.DBURL,
		map[string]string{"VAPID_KEY_ENCRYPTION_KEY": base64.RawURLEncoding.EncodeToString(raw)}, wiring.Options{})

	require.Equal(t, before, sealed.publicKey(), "browsers' subscriptions stay valid")
	require.Equal(t, plain.Svc.CurrentKey(), sealed.Svc.CurrentKey())
	sealed.requireSealedWith(key, plain.Svc.CurrentKey())
}

func TestVAPIDKeyEncryptedConsistentlyWhenInstancesStartTogether(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		reset string // what the table holds when the four start
	}{
		{name: "plain row", reset: ""},
		{name: "no row", reset: "DELETE FROM vapid_keys"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, nil)
			if tt.reset != "" {
				_, err := e.Svc.DB.Exec(tt.reset)
				require.NoError(t, err)
			}

			key := encryptionKey(t)
			keys := make([]domain.VAPIDKeys, 4)
			var wg sync.WaitGroup
			for i := range keys {
				wg.Go(func() {
					svc := start(t, map[string]string{
						"DATABASE_URL": e.DBURL, "JWT_SECRET": testSecret, "VAPID_KEY_ENCRYPTION_KEY": key,
					})
					keys[i] = svc.CurrentKey()
				})
			}
			wg.Wait()
			for _, k := range keys {
				require.Equal(t, keys[0], k)
			}
			require.NoError(t, keys[0].Validate())
			if tt.reset == "" {
				require.Equal(t, e.Svc.CurrentKey(), keys[0], "the plain row's pair is kept")
			}
			e.requireSealedWith(key, keys[0])
		})
	}
}

func TestVAPIDKeyWrongOrMissingEncryptionKeyStopsStartUp(t *testing.T) {
	t.Parallel()
	key := encryptionKey(t)
	e := setup(t, map[string]string{"VAPID_KEY_ENCRYPTION_KEY": key})
	stored := e.storedPrivateKey()
	base := map[string]string{"DATABASE_URL": e.DBURL, "JWT_SECRET": testSecret}

	wrong := encryptionKey(t)
	logs, err := tryStart(t, with(base, "VAPID_KEY_ENCRYPTION_KEY", wrong))
	require.Error(t, err)
	require.Contains(t, err.Error(), "VAPID_KEY_ENCRYPTION_KEY does not decrypt the stored VAPID private key")
	for _, secret := range []string{key, wrong, e.Svc.CurrentKey().PrivateKey, stored} {
		require.NotContains(t, err.Error(), secret, "no key material in the error")
		require.NotContains(t, logs, secret, "no key material in the logs")
	}

	_, err = tryStart(t, base)
	require.Error(t, err)
	require.Contains(t, err.Error(), "is encrypted and VAPID_KEY_ENCRYPTION_KEY is not set")

	require.Equal(t, stored, e.storedPrivateKey(), "a failed start-up leaves the row alone")
}

func TestVAPIDKeyPlainTextWarning(t *testing.T) {
	t.Parallel()
	configured, err := domain.GenerateVAPIDKeys()
	require.NoError(t, err)
	for _, tt := range []struct {
		name string
		vars map[string]string
		warn bool
	}{
		{name: "no key", vars: map[string]string{}, warn: true},
		{name: "no key in DEV_MODE", vars: map[string]string{"DEV_MODE": "true"}},
		{name: "key set", vars: map[string]string{"VAPID_KEY_ENCRYPTION_KEY": encryptionKey(t)}},
		{name: "keys configured", vars: map[string]string{
			"VAPID_PUBLIC_KEY": configured.PublicKey, "VAPID_PRIVATE_KEY": configured.PrivateKey}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, with(tt.vars, "LOG_LEVEL", "warn"))
			logs := e.Logs.String()
			if tt.warn {
				require.Contains(t, logs, `"level":"WARN"`)
				require.Contains(t, logs, "the VAPID private key is stored in plain text")
				require.Contains(t, logs, "set VAPID_KEY_ENCRYPTION_KEY")
			} else {
				require.NotContains(t, logs, "plain text")
			}
			require.NotContains(t, logs, e.Svc.CurrentKey().PrivateKey)
		})
	}
}

// with is vars plus name=value, vars unchanged.
func with(vars map[string]string, name, value string) map[string]string {
	out := map[string]string{name: value}
	for k, v := range vars {
		if k != name {
			out[k] = v
		}
	}
	return out
}
