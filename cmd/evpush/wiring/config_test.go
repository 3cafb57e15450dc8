package wiring_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	httpadapter "github.com/evpower/evpush/adapters/http"
	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/cmd/evpush/wiring"
	"github.com/evpower/evpush/domain"
)

// envMap is a getenv over a fixed set of variables.
func envMap(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// withSecret returns vars plus a JWT_SECRET, the one required setting.
func withSecret(vars map[string]string) map[string]string {
	out := map[string]string{"JWT_SECRET": "s3cret-s3cret-s3cret-s3cret-s3cret"}
	for k, v := range vars {
		out[k] = v
	}
	return out
}

func writeFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	require.NoError(tb, os.WriteFile(path, data, 0o600))
	return path
}

func rsaPublicKeyPEM(tb testing.TB) ([]byte, *rsa.PublicKey) {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(tb, err)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(tb, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), &k.PublicKey
}

func ecPublicKeyPEM(tb testing.TB) ([]byte, *ecdsa.PublicKey) {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(tb, err)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(tb, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), &k.PublicKey
}

func newVAPIDKeys(tb testing.TB) domain.VAPIDKeys {
	tb.Helper()
	k, err := domain.GenerateVAPIDKeys()
	require.NoError(tb, err)
	return k
}

func TestLoadConfig_Defaults(t *testing.T) {
	t.Parallel()

	c, err := wiring.LoadConfig(envMap(map[string]string{"JWT_SECRET": "topsecret-topsecret-topsecret-32"}))
	require.NoError(t, err)

	require.Equal(t, wiring.DefaultDatabaseURL, c.DatabaseURL)
	require.Equal(t, ":8080", c.HTTPAddr)
	require.Equal(t, wiring.DefaultHTTPAddr, c.HTTPAddr)
	require.Equal(t, []byte("topsecret-topsecret-topsecret-32"), c.JWTSecret)
	require.False(t, c.DevMode)
	require.True(t, c.JWTRequireRole, "outside DEV_MODE a token must name its role")
	require.Equal(t, httpadapter.DefaultOpsLoginLimit, c.OpsLoginLimit)
	require.Nil(t, c.JWTPublicKey)
	require.Empty(t, c.JWTIssuer)
	require.Empty(t, c.JWTAudience)
	require.Equal(t, 30*time.Second, c.JWTLeeway)
	require.Equal(t, "mailto:push@evpower.kg", c.VAPIDSubject)
	require.Equal(t, wiring.DefaultVAPIDSubject, c.VAPIDSubject)
	require.Zero(t, c.VAPIDKeys)
	require.Nil(t, c.VAPIDKeyEncryptionKey)
	require.Equal(t, 30*time.Second, c.VAPIDReloadInterval)
	require.Equal(t, app.DefaultKeyReload, c.VAPIDReloadInterval)
	require.Equal(t, 90*24*time.Hour, c.Cleanup.RetireAfter)
	require.Equal(t, app.DefaultRetireAfter, c.Cleanup.RetireAfter)
	require.Equal(t, domain.DefaultPushHosts, c.PushPolicy.AllowedHosts)
	require.False(t, c.PushPolicy.AllowLoopback)
	require.Equal(t, wiring.DefaultPushTimeout, c.PushTimeout)
	require.Positive(t, c.PushTimeout)
	require.Empty(t, c.CORSOrigins)
	require.Equal(t, slog.LevelInfo, c.LogLevel)
	require.Equal(t, "text", c.LogFormat)
	require.Equal(t, 24*time.Hour, c.JobRetention)
}

func TestLoadConfig_Values(t *testing.T) {
	t.Parallel()

	vapid := newVAPIDKeys(t)
	c, err := wiring.LoadConfig(envMap(withSecret(map[string]string{
		"DATABASE_URL":          "postgresql://evpush:pw@db:5432/evpush",
		"HTTP_ADDR":             "127.0.0.1:9090",
		"JWT_ISSUER":            "evpower",
		"JWT_AUDIENCE":          "push",
		"JWT_LEEWAY":            "1m",
		"PUSH_TIMEOUT":          "45", // bare seconds
		"VAPID_SUBJECT":         "https://evpower.kg/contact",
		"VAPID_PUBLIC_KEY":      vapid.PublicKey,
		"VAPID_PRIVATE_KEY":     "  " + vapid.PrivateKey + "\n",
		"PUSH_ALLOWED_HOSTS":    " *.googleapis.com, push.example.com ,,localhost ",
		"PUSH_ALLOW_LOOPBACK":   "true",
		"CORS_ALLOWED_ORIGINS":  "https://app.evpower.kg/, http://LOCALHOST:5173",
		"LOG_LEVEL":             "DEBUG",
		"LOG_FORMAT":            "json",
		"VAPID_RELOAD_INTERVAL": "250ms",
		"VAPID_RETIRE_AFTER":    "720h",
		"JOB_RETENTION":         "2h",
	})))
	require.NoError(t, err)
	require.Equal(t, 250*time.Millisecond, c.VAPIDReloadInterval)
	require.Equal(t, 720*time.Hour, c.Cleanup.RetireAfter)

	require.Equal(t, "postgresql://evpush:pw@db:5432/evpush", c.DatabaseURL)
	require.Equal(t, "127.0.0.1:9090", c.HTTPAddr)
	require.Equal(t, "evpower", c.JWTIssuer)
	require.Equal(t, "push", c.JWTAudience)
	require.Equal(t, time.Minute, c.JWTLeeway)
	require.Equal(t, 45*time.Second, c.PushTimeout)
	require.Equal(t, "https://evpower.kg/contact", c.VAPIDSubject)
	require.Equal(t, vapid, c.VAPIDKeys)
	require.Equal(t, []string{"*.googleapis.com", "push.example.com", "localhost"}, c.PushPolicy.AllowedHosts)
	require.True(t, c.PushPolicy.AllowLoopback)
	require.Equal(t, []string{"https://app.evpower.kg", "http://localhost:5173"}, c.CORSOrigins)
	require.Equal(t, slog.LevelDebug, c.LogLevel)
	require.Equal(t, "json", c.LogFormat)
	require.Equal(t, 2*time.Hour, c.JobRetention)

	require.NoError(t, c.PushPolicy.Check("https://push.example.com/x"))
	require.Error(t, c.PushPolicy.Check("https://updates.push.services.mozilla.com/x"))
}

// TestLoadConfig_VAPIDKeysCanonical: a configured pair in standard,
// padded base64 is kept as base64url without padding: the form browsers
// name it in (application_server_key) and webpush-go reads.
func TestLoadConfig_VAPIDKeysCanonical(t *testing.T) {
	t.Parallel()

	vapid := newVAPIDKeys(t)
	pub, ok := domain.DecodeBase64(vapid.PublicKey)
	require.True(t, ok)
	priv, ok := domain.DecodeBase64(vapid.PrivateKey)
	require.True(t, ok)
	c, err := wiring.LoadConfig(envMap(withSecret(map[string]string{
		"VAPID_PUBLIC_KEY":  base64.StdEncoding.EncodeToString(pub),
		"VAPID_PRIVATE_KEY": base64.StdEncoding.EncodeToString(priv),
	})))
	require.NoError(t, err)
	require.Equal(t, vapid, c.VAPIDKeys)
}

func TestLoadConfig_ListsAndSwitches(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		vars  map[string]string
		check func(t *testing.T, c wiring.Config)
	}{
		{
			name: "allowed hosts star",
			vars: map[string]string{"PUSH_ALLOWED_HOSTS": "*"},
			check: func(t *testing.T, c wiring.Config) {
				require.Equal(t, []string{"*"}, c.PushPolicy.AllowedHosts)
			},
		},
		{
			name: "cors star",
			vars: map[string]string{"CORS_ALLOWED_ORIGINS": "*"},
			check: func(t *testing.T, c wiring.Config) {
				require.Equal(t, []string{"*"}, c.CORSOrigins)
			},
		},
		{
			name: "cors blank",
			vars: map[string]string{"CORS_ALLOWED_ORIGINS": "  "},
			check: func(t *testing.T, c wiring.Config) {
				require.Empty(t, c.CORSOrigins)
			},
		},
		{
			name: "loopback 1",
			vars: map[string]string{"PUSH_ALLOW_LOOPBACK": "1"},
			check: func(t *testing.T, c wiring.Config) {
				require.True(t, c.PushPolicy.AllowLoopback)
			},
		},
		{
			name: "loopback false",
			vars: map[string]string{"PUSH_ALLOW_LOOPBACK": "false"},
			check: func(t *testing.T, c wiring.Config) {
				require.False(t, c.PushPolicy.AllowLoopback)
			},
		},
		{
			name: "leeway zero",
			vars: map[string]string{"JWT_LEEWAY": "0"},
			check: func(t *testing.T, c wiring.Config) {
				require.Zero(t, c.JWTLeeway)
			},
		},
		{
			name: "log level warn",
			vars: map[string]string{"LOG_LEVEL": "warn"},
			check: func(t *testing.T, c wiring.Config) {
				require.Equal(t, slog.LevelWarn, c.LogLevel)
			},
		},
		{
			name: "http addr ipv6",
			vars: map[string]string{"HTTP_ADDR": "[::1]:8081"},
			check: func(t *testing.T, c wiring.Config) {
				require.Equal(t, "[::1]:8081", c.HTTPAddr)
			},
		},
		{
			name: "http addr port 0",
			vars: map[string]string{"HTTP_ADDR": ":0"},
			check: func(t *testing.T, c wiring.Config) {
				require.Equal(t, ":0", c.HTTPAddr)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			c, err := wiring.LoadConfig(envMap(withSecret(tt.vars)))
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestLoadConfig_VAPIDKeyEncryptionKey(t *testing.T) {
	t.Parallel()

	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	for name, v := range map[string]string{
		"standard padded":   base64.StdEncoding.EncodeToString(key), // openssl rand -base64 32
		"standard unpadded": base64.RawStdEncoding.EncodeToString(key),
		"url-safe padded":   base64.URLEncoding.EncodeToString(key),
		"url-safe unpadded": base64.RawURLEncoding.EncodeToString(key),
		"with a newline":    base64.StdEncoding.EncodeToString(key) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := wiring.LoadConfig(envMap(withSecret(map[string]string{"VAPID_KEY_ENCRYPTION_KEY": v})))
			require.NoError(t, err)
			require.Equal(t, key, c.VAPIDKeyEncryptionKey)
		})
	}

	for name, v := range map[string]string{
		"16 bytes":   base64.StdEncoding.EncodeToString(key[:16]),
		"64 bytes":   base64.StdEncoding.EncodeToString(append(key, key...)),
		"hex":        hex.EncodeToString(key),
		"passphrase": "correct horse battery staple",
		"bad char":   "!" + base64.RawStdEncoding.EncodeToString(key)[1:],
	} {
		t.Run("invalid "+name, func(t *testing.T) {
			t.Parallel()
			c, err := wiring.LoadConfig(envMap(withSecret(map[string]string{"VAPID_KEY_ENCRYPTION_KEY": v})))
			require.Error(t, err)
			require.Contains(t, err.Error(), "config: VAPID_KEY_ENCRYPTION_KEY: ")
			require.Contains(t, err.Error(), "openssl rand -base64 32", "says how to make one")
			require.NotContains(t, err.Error(), strings.TrimSpace(v), "never echoes key material")
			require.Zero(t, c)
		})
	}
}

func TestLoadConfig_MissingJWTKey(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		vars map[string]string
	}{
		{name: "nothing set", vars: map[string]string{}},
		{name: "empty secret", vars: map[string]string{"JWT_SECRET": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			c, err := wiring.LoadConfig(envMap(tt.vars))
			require.Error(t, err)
			require.Contains(t, err.Error(), "JWT_SECRET")
			require.Contains(t, err.Error(), "JWT_PUBLIC_KEY_FILE")
			require.Zero(t, c)
		})
	}
}

func TestLoadConfig_Invalid(t *testing.T) {
	t.Parallel()

	a := newVAPIDKeys(t)
	b := newVAPIDKeys(t)
	missing := filepath.Join(t.TempDir(), "does-not-exist.pem")
	garbage := writeFile(t, "garbage.pem", []byte("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n"))

	tests := []struct {
		name     string
		vars     map[string]string
		variable string
	}{
		{name: "database mysql", vars: map[string]string{"DATABASE_URL": "mysql://x"}, variable: "DATABASE_URL"},
		{name: "database not a url", vars: map[string]string{"DATABASE_URL": "://"}, variable: "DATABASE_URL"},
		{name: "http addr nonsense", vars: map[string]string{"HTTP_ADDR": "nonsense"}, variable: "HTTP_ADDR"},
		{name: "http addr port too big", vars: map[string]string{"HTTP_ADDR": ":70000"}, variable: "HTTP_ADDR"},
		{name: "http addr no port", vars: map[string]string{"HTTP_ADDR": "localhost:"}, variable: "HTTP_ADDR"},
		{name: "leeway abc", vars: map[string]string{"JWT_LEEWAY": "abc"}, variable: "JWT_LEEWAY"},
		{name: "empty host list", vars: map[string]string{"PUSH_ALLOWED_HOSTS": " , "}, variable: "PUSH_ALLOWED_HOSTS"},
		{name: "bare https subject", vars: map[string]string{"VAPID_SUBJECT": "https://"}, variable: "VAPID_SUBJECT"},
		{name: "origin with query", vars: map[string]string{"CORS_ALLOWED_ORIGINS": "https://a.example?x"}, variable: "CORS_ALLOWED_ORIGINS"},
		{name: "leeway negative", vars: map[string]string{"JWT_LEEWAY": "-1s"}, variable: "JWT_LEEWAY"},
		{name: "leeway too big", vars: map[string]string{"JWT_LEEWAY": "1h"}, variable: "JWT_LEEWAY"},
		{name: "push timeout 0s", vars: map[string]string{"PUSH_TIMEOUT": "0s"}, variable: "PUSH_TIMEOUT"},
		{name: "push timeout too big", vars: map[string]string{"PUSH_TIMEOUT": "10m"}, variable: "PUSH_TIMEOUT"},
		{name: "job retention too short", vars: map[string]string{"JOB_RETENTION": "10s"}, variable: "JOB_RETENTION"},
		{name: "push timeout garbage", vars: map[string]string{"PUSH_TIMEOUT": "soon"}, variable: "PUSH_TIMEOUT"},
		{name: "vapid subject bare email", vars: map[string]string{"VAPID_SUBJECT": "ops@example.com"}, variable: "VAPID_SUBJECT"},
		{name: "vapid subject double mailto", vars: map[string]string{"VAPID_SUBJECT": "mailto:mailto:a@b.c"}, variable: "VAPID_SUBJECT"},
		{name: "vapid subject bare mailto", vars: map[string]string{"VAPID_SUBJECT": "mailto:"}, variable: "VAPID_SUBJECT"},
		{name: "vapid subject with name", vars: map[string]string{"VAPID_SUBJECT": "mailto:Ops <ops@example.com>"}, variable: "VAPID_SUBJECT"},
		{name: "vapid subject http", vars: map[string]string{"VAPID_SUBJECT": "http://example.com"}, variable: "VAPID_SUBJECT"},
		{name: "only vapid public key", vars: map[string]string{"VAPID_PUBLIC_KEY": a.PublicKey}, variable: "VAPID_PUBLIC_KEY"},
		{name: "only vapid private key", vars: map[string]string{"VAPID_PRIVATE_KEY": a.PrivateKey}, variable: "VAPID_PUBLIC_KEY"},
		{name: "mismatched vapid pair", vars: map[string]string{"VAPID_PUBLIC_KEY": a.PublicKey, "VAPID_PRIVATE_KEY": b.PrivateKey}, variable: "VAPID_PRIVATE_KEY"},
		{name: "vapid private garbage", vars: map[string]string{"VAPID_PUBLIC_KEY": a.PublicKey, "VAPID_PRIVATE_KEY": "!!!"}, variable: "VAPID_PRIVATE_KEY"},
		{name: "allowed hosts url", vars: map[string]string{"PUSH_ALLOWED_HOSTS": "http://x"}, variable: "PUSH_ALLOWED_HOSTS"},
		{name: "allowed hosts one bad of two", vars: map[string]string{"PUSH_ALLOWED_HOSTS": "*.googleapis.com,host:443"}, variable: "PUSH_ALLOWED_HOSTS"},
		{name: "allowed hosts inner star", vars: map[string]string{"PUSH_ALLOWED_HOSTS": "*.*.com"}, variable: "PUSH_ALLOWED_HOSTS"},
		{name: "allow loopback maybe", vars: map[string]string{"PUSH_ALLOW_LOOPBACK": "maybe"}, variable: "PUSH_ALLOW_LOOPBACK"},
		{name: "cors not a url", vars: map[string]string{"CORS_ALLOWED_ORIGINS": "not a url"}, variable: "CORS_ALLOWED_ORIGINS"},
		{name: "cors with path", vars: map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com/app"}, variable: "CORS_ALLOWED_ORIGINS"},
		{name: "cors ftp", vars: map[string]string{"CORS_ALLOWED_ORIGINS": "ftp://app.example.com"}, variable: "CORS_ALLOWED_ORIGINS"},
		{name: "cors one bad of two", vars: map[string]string{"CORS_ALLOWED_ORIGINS": "https://ok.example.com,app.example.com"}, variable: "CORS_ALLOWED_ORIGINS"},
		{name: "log level loud", vars: map[string]string{"LOG_LEVEL": "loud"}, variable: "LOG_LEVEL"},
		{name: "vapid reload garbage", vars: map[string]string{"VAPID_RELOAD_INTERVAL": "often"}, variable: "VAPID_RELOAD_INTERVAL"},
		{name: "vapid reload over a minute", vars: map[string]string{"VAPID_RELOAD_INTERVAL": "2m"}, variable: "VAPID_RELOAD_INTERVAL"},
		{name: "vapid reload too fast", vars: map[string]string{"VAPID_RELOAD_INTERVAL": "10ms"}, variable: "VAPID_RELOAD_INTERVAL"},
		{name: "vapid retire after garbage", vars: map[string]string{"VAPID_RETIRE_AFTER": "90d"}, variable: "VAPID_RETIRE_AFTER"},
		{name: "vapid retire after too short", vars: map[string]string{"VAPID_RETIRE_AFTER": "10m"}, variable: "VAPID_RETIRE_AFTER"},
		{name: "log format xml", vars: map[string]string{"LOG_FORMAT": "xml"}, variable: "LOG_FORMAT"},
		{name: "public key file missing", vars: map[string]string{"JWT_PUBLIC_KEY_FILE": missing}, variable: "JWT_PUBLIC_KEY_FILE"},
		{name: "public key file garbage", vars: map[string]string{"JWT_PUBLIC_KEY_FILE": garbage}, variable: "JWT_PUBLIC_KEY_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			c, err := wiring.LoadConfig(envMap(withSecret(tt.vars)))
			require.Error(t, err)
			require.Contains(t, err.Error(), "config: "+tt.variable+": ")
			require.Zero(t, c)
		})
	}
}

func TestLoadConfig_ReportsEveryError(t *testing.T) {
	t.Parallel()

	_, err := wiring.LoadConfig(envMap(map[string]string{
		"HTTP_ADDR":  "nonsense",
		"LOG_LEVEL":  "loud",
		"LOG_FORMAT": "xml",
	}))
	require.Error(t, err)
	for _, name := range []string{"HTTP_ADDR", "LOG_LEVEL", "LOG_FORMAT", "JWT_SECRET"} {
		require.Contains(t, err.Error(), "config: "+name+": ")
	}
	require.Len(t, strings.Split(err.Error(), "\n"), 4)
}

func TestLoadConfig_PublicKeyFile(t *testing.T) {
	t.Parallel()

	rsaPEM, rsaKey := rsaPublicKeyPEM(t)
	ecPEM, ecKey := ecPublicKeyPEM(t)
	tests := []struct {
		name    string
		pem     []byte
		secret  string
		wantKey any
	}{
		{name: "rsa without secret", pem: rsaPEM, wantKey: rsaKey},
		{name: "ec without secret", pem: ecPEM, wantKey: ecKey},
		{name: "rsa with secret", pem: rsaPEM, secret: "also-hs256-also-hs256-also-hs256", wantKey: rsaKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			path := writeFile(t, "jwt.pem", tt.pem)
			c, err := wiring.LoadConfig(envMap(map[string]string{
				"JWT_PUBLIC_KEY_FILE": path,
				"JWT_SECRET":          tt.secret,
			}))
			require.NoError(t, err)
			require.Equal(t, tt.wantKey, c.JWTPublicKey)
			if tt.secret == "" {
				require.Empty(t, c.JWTSecret)
			} else {
				require.Equal(t, []byte(tt.secret), c.JWTSecret)
			}
		})
	}
}

func TestLoadConfig_GarbageKeyFileWithoutSecret(t *testing.T) {
	t.Parallel()

	path := writeFile(t, "jwt.pem", []byte("hello"))
	_, err := wiring.LoadConfig(envMap(map[string]string{"JWT_PUBLIC_KEY_FILE": path}))
	require.Error(t, err)
	require.Contains(t, err.Error(), "config: JWT_PUBLIC_KEY_FILE: ")
	require.Contains(t, err.Error(), "config: JWT_SECRET: ")
}

func TestLoadConfig_JWTClaims(t *testing.T) {
	t.Parallel()

	c, err := wiring.LoadConfig(envMap(withSecret(nil)))
	require.NoError(t, err)
	require.Equal(t, "sub", c.JWTUserClaim)
	require.Empty(t, c.JWTRoleClaim)
	require.Nil(t, c.JWTRoleValues)

	c, err = wiring.LoadConfig(envMap(withSecret(map[string]string{
		"JWT_USER_CLAIM":  " user_id ",
		"JWT_ROLE_CLAIM":  "account_type",
		"JWT_ROLE_VALUES": "client:driver, client:user ,owner:station_owner",
	})))
	require.NoError(t, err)
	require.Equal(t, "user_id", c.JWTUserClaim)
	require.Equal(t, "account_type", c.JWTRoleClaim)
	require.Equal(t, map[string]domain.UserType{
		"driver": domain.UserTypeClient, "user": domain.UserTypeClient, "station_owner": domain.UserTypeOwner,
	}, c.JWTRoleValues)
}

func TestLoadConfig_JWTClaimsInvalid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		vars     map[string]string
		variable string
	}{
		{name: "user claim exp", vars: map[string]string{"JWT_USER_CLAIM": "exp"}, variable: "JWT_USER_CLAIM"},
		{name: "user claim is a default role claim", vars: map[string]string{"JWT_USER_CLAIM": "user_type"}, variable: "JWT_USER_CLAIM"},
		{name: "user claim is the role claim", vars: map[string]string{"JWT_USER_CLAIM": "uid", "JWT_ROLE_CLAIM": "uid"}, variable: "JWT_USER_CLAIM"},
		{name: "role claim aud", vars: map[string]string{"JWT_ROLE_CLAIM": "aud"}, variable: "JWT_ROLE_CLAIM"},
		{name: "role values no colon", vars: map[string]string{"JWT_ROLE_VALUES": "driver"}, variable: "JWT_ROLE_VALUES"},
		{name: "role values empty side", vars: map[string]string{"JWT_ROLE_VALUES": "client:"}, variable: "JWT_ROLE_VALUES"},
		{name: "role values empty left", vars: map[string]string{"JWT_ROLE_VALUES": ":driver"}, variable: "JWT_ROLE_VALUES"},
		{name: "role values only commas", vars: map[string]string{"JWT_ROLE_VALUES": " , "}, variable: "JWT_ROLE_VALUES"},
		{name: "role values unknown role", vars: map[string]string{"JWT_ROLE_VALUES": "admin:superuser"}, variable: "JWT_ROLE_VALUES"},
		{name: "role values reversed", vars: map[string]string{"JWT_ROLE_VALUES": "driver:client"}, variable: "JWT_ROLE_VALUES"},
		{name: "role values one value both roles", vars: map[string]string{"JWT_ROLE_VALUES": "client:driver,owner:driver"}, variable: "JWT_ROLE_VALUES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			c, err := wiring.LoadConfig(envMap(withSecret(tt.vars)))
			require.Error(t, err)
			require.Contains(t, err.Error(), "config: "+tt.variable+": ")
			require.Len(t, strings.Split(err.Error(), "\n"), 1, err.Error())
			require.Zero(t, c)
		})
	}
}

// TestLoadConfig_MessagesAndLinks: the catalogue comes from the binary and
// MESSAGES_DIR; DEFAULT_LOCALE may be any of its languages; LINK_* set the
// click targets.
func TestLoadConfig_MessagesAndLinks(t *testing.T) {
	t.Parallel()
	c, err := wiring.LoadConfig(envMap(withSecret(nil)))
	require.NoError(t, err)
	require.False(t, c.ReferenceCharging, "the demo module is off by default")
	require.Equal(t, wiring.DefaultChargingLimit, c.ChargingLimit)
	require.Equal(t, "ru", c.Messages.Catalog.Fallback())
	ev := domain.ChargingEvent{Kind: domain.EventChargingCompleted, SessionID: "s 1", StationID: "ST/7", ConnectorID: 3, DriverID: "d"}
	require.Equal(t, "/sessions/s%201", c.Messages.Event(ev, domain.UserTypeClient, "").URL)
	require.Equal(t, "/stations/ST%2F7/sessions/s%201", c.Messages.Event(ev, domain.UserTypeOwner, "").URL)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ky.txt"), []byte("charging_completed.title = Бүттү\n"), 0o600))
	c, err = wiring.LoadConfig(envMap(withSecret(map[string]string{
		"MESSAGES_DIR": dir, "DEFAULT_LOCALE": "ky", "REFERENCE_CHARGING": "true", "RATE_LIMIT_CHARGING": "2/min,1",
		"LINK_CHARGING_COMPLETED": "/app/receipts/{session_id}?station={station_id}&c={connector_id}",
		"LINK_NEW_SESSION":        "/owner/{station_id}",
	})))
	require.NoError(t, err)
	require.True(t, c.ReferenceCharging)
	require.Equal(t, 2.0, c.ChargingLimit.PerMinute)
	n := c.Messages.Event(ev, domain.UserTypeClient, "uz")
	require.Equal(t, "Бүттү", n.Title, "MESSAGES_DIR overrides; an unknown language gets DEFAULT_LOCALE's")
	require.Equal(t, "/app/receipts/s%201?station=ST%2F7&c=3", n.URL)
	ev.Kind = domain.EventChargingStarted
	require.Equal(t, "/owner/ST%2F7", c.Messages.Event(ev, domain.UserTypeOwner, "").URL)
	require.Equal(t, "/sessions/s%201", c.Messages.Event(ev, domain.UserTypeClient, "").URL, "the others keep their default")
}

func TestLoadConfig_MessagesAndLinksInvalid(t *testing.T) {
	t.Parallel()
	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "en.txt"), []byte("test.title = ok\nthis line is wrong\n"), 0o600))
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"malformed file", map[string]string{"MESSAGES_DIR": bad}, "config: MESSAGES_DIR: " + filepath.Join(bad, "en.txt") + ":2: expected"},
		{"missing directory", map[string]string{"MESSAGES_DIR": filepath.Join(bad, "nope")}, "config: MESSAGES_DIR: messages directory"},
		{"language without texts", map[string]string{"DEFAULT_LOCALE": "de"}, "config: DEFAULT_LOCALE: must be a language of the message catalogue: en, ky, ru"},
		{"other origin", map[string]string{"LINK_CHARGING_STARTED": "https://evil.example/{session_id}"}, "config: LINK_CHARGING_STARTED: must be a path"},
		{"scheme-relative", map[string]string{"LINK_SESSION_COMPLETED": "//evil.example/x"}, "config: LINK_SESSION_COMPLETED: must be a path"},
		{"placeholder as host", map[string]string{"LINK_NEW_SESSION": "/{station_id}\\x"}, "config: LINK_NEW_SESSION: must not contain backslashes"},
		{"unknown placeholder", map[string]string{"LINK_CHARGING_COMPLETED": "/s/{id}"}, "config: LINK_CHARGING_COMPLETED: unknown placeholder {id}"},
		{"reference switch", map[string]string{"REFERENCE_CHARGING": "yes please"}, "config: REFERENCE_CHARGING: must be true or false"},
		{"charging limit", map[string]string{"RATE_LIMIT_CHARGING": "fast"}, "config: RATE_LIMIT_CHARGING:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := wiring.LoadConfig(envMap(withSecret(tt.vars)))
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestLogWarnings_SideListenersBeyondLoopback: METRICS_ADDR and PPROF_ADDR
// serve without credentials, so binding them beyond loopback is warned about.
func TestLogWarnings_SideListenersBeyondLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		warn bool
	}{
		{":9090", true}, // every interface
		{"0.0.0.0:9090", true},
		{"[::]:9090", true},
		{"10.0.0.5:9090", true},
		{"metrics.internal:9090", true}, // a name may resolve anywhere
		{"127.0.0.1:9090", false},
		{"127.0.0.2:9090", false},
		{"[::1]:9090", false},
		{"localhost:9090", false},
	}
	for _, tt := range tests {
		for _, name := range []string{"METRICS_ADDR", "PPROF_ADDR"} {
			c, err := wiring.LoadConfig(envMap(withSecret(map[string]string{name: tt.addr})))
			require.NoError(t, err)
			var logs strings.Builder
			c.LogWarnings(slog.New(slog.NewTextHandler(&logs, nil)))
			if !tt.warn {
				require.Empty(t, logs.String(), "%s=%s", name, tt.addr)
				continue
			}
			require.Contains(t, logs.String(), "level=WARN", "%s=%s", name, tt.addr)
			require.Contains(t, logs.String(), name+" is not a loopback address", "%s=%s", name, tt.addr)
			require.Contains(t, logs.String(), "addr="+tt.addr, "%s=%s", name, tt.addr)
		}
	}

	c, err := wiring.LoadConfig(envMap(withSecret(nil)))
	require.NoError(t, err)
	var logs strings.Builder
	c.LogWarnings(slog.New(slog.NewTextHandler(&logs, nil)))
	require.Empty(t, logs.String(), "both off by default: nothing to warn about")
}

// TestLoadConfig_JWTSecretRules: an HS256 secret shorter than 256 bits, or
// the development secret the Makefile publishes (outside DEV_MODE), stops
// start-up naming JWT_SECRET.
func TestLoadConfig_JWTSecretRules(t *testing.T) {
	t.Parallel()
	rsaPEM, _ := rsaPublicKeyPEM(t)
	keyFile := writeFile(t, "jwt.pem", rsaPEM)
	secret32 := strings.Repeat("k", 32)
	tests := []struct {
		name string
		vars map[string]string
		want string // "" means accepted
	}{
		{"32 bytes", map[string]string{"JWT_SECRET": secret32}, ""},
		{"31 bytes", map[string]string{"JWT_SECRET": secret32[1:]}, "must be at least 32 bytes"},
		{"short, blanks around it not counted", map[string]string{"JWT_SECRET": "  " + secret32[1:] + "\n"}, "must be at least 32 bytes"},
		{"short in DEV_MODE too", map[string]string{"JWT_SECRET": "dev", "DEV_MODE": "true"}, "must be at least 32 bytes"},
		{"short beside a public key", map[string]string{"JWT_SECRET": "short", "JWT_PUBLIC_KEY_FILE": keyFile}, "must be at least 32 bytes"},
		{"the Makefile's", map[string]string{"JWT_SECRET": wiring.DevJWTSecret}, "is the development secret"},
		{"the Makefile's, DEV_MODE false", map[string]string{"JWT_SECRET": wiring.DevJWTSecret, "DEV_MODE": "false"}, "is the development secret"},
		{"the Makefile's in DEV_MODE", map[string]string{"JWT_SECRET": wiring.DevJWTSecret, "DEV_MODE": "true"}, ""},
		{"only a public key", map[string]string{"JWT_PUBLIC_KEY_FILE": keyFile}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := wiring.LoadConfig(envMap(tt.vars))
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), "config: JWT_SECRET: "+tt.want)
			require.Len(t, strings.Split(err.Error(), "\n"), 1, err.Error())
		})
	}
}

// TestLoadConfig_JWTRequireRole: role-less tokens are refused unless
// DEV_MODE, and JWT_REQUIRE_ROLE overrides either default.
func TestLoadConfig_JWTRequireRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vars map[string]string
		want bool
	}{
		{"default", nil, true},
		{"DEV_MODE", map[string]string{"DEV_MODE": "true"}, false},
		{"turned off", map[string]string{"JWT_REQUIRE_ROLE": "false"}, false},
		{"turned on in DEV_MODE", map[string]string{"DEV_MODE": "true", "JWT_REQUIRE_ROLE": "true"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := wiring.LoadConfig(envMap(withSecret(tt.vars)))
			require.NoError(t, err)
			require.Equal(t, tt.want, c.JWTRequireRole)
		})
	}
	_, err := wiring.LoadConfig(envMap(withSecret(map[string]string{"JWT_REQUIRE_ROLE": "sometimes"})))
	require.ErrorContains(t, err, "config: JWT_REQUIRE_ROLE: must be true or false")
}

// TestLoadConfig_Ops: the operators' password is at least 16 characters
// (not bytes), and their login throttle cannot be turned off.
func TestLoadConfig_Ops(t *testing.T) {
	t.Parallel()
	ops := func(pass string, more ...string) map[string]string {
		vars := map[string]string{"OPS_USERNAME": "ops", "OPS_PASSWORD": pass}
		for i := 0; i+1 < len(more); i += 2 {
			vars[more[i]] = more[i+1]
		}
		return withSecret(vars)
	}
	c, err := wiring.LoadConfig(envMap(ops("0123456789abcdef")))
	require.NoError(t, err)
	require.Equal(t, "0123456789abcdef", c.OpsPassword)
	require.Equal(t, httpadapter.RateLimit{PerMinute: 10, Burst: 10}, c.OpsLoginLimit)
	_, err = wiring.LoadConfig(envMap(ops("пароль-оператора")))
	require.NoError(t, err, "16 characters, 31 bytes")
	c, err = wiring.LoadConfig(envMap(ops("0123456789abcdef", "RATE_LIMIT_OPS_LOGIN", "5/min,20")))
	require.NoError(t, err)
	require.Equal(t, httpadapter.RateLimit{PerMinute: 5, Burst: 20}, c.OpsLoginLimit)

	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"15 characters", ops("0123456789abcde"), "config: OPS_PASSWORD: must be at least 16 characters"},
		{"15 characters, 28 bytes", ops("пароль-операто1"), "config: OPS_PASSWORD: must be at least 16 characters"},
		{"the old minimum", ops("12345678"), "config: OPS_PASSWORD: must be at least 16 characters"},
		{"the Makefile's outside DEV_MODE", ops(wiring.DevOpsPassword), "config: OPS_PASSWORD: is the development password"},
		{"limit off", ops("0123456789abcdef", "RATE_LIMIT_OPS_LOGIN", "off"), "config: RATE_LIMIT_OPS_LOGIN: cannot be turned off"},
		{"limit zero", ops("0123456789abcdef", "RATE_LIMIT_OPS_LOGIN", "0"), "config: RATE_LIMIT_OPS_LOGIN: cannot be turned off"},
		{"limit garbage", ops("0123456789abcdef", "RATE_LIMIT_OPS_LOGIN", "lots"), "config: RATE_LIMIT_OPS_LOGIN: must be like"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := wiring.LoadConfig(envMap(tt.vars))
			require.ErrorContains(t, err, tt.want)
			require.Len(t, strings.Split(err.Error(), "\n"), 1, err.Error())
		})
	}
}

// TestMakefileDevDefaultsPassTheRules: `make run`'s development secret is
// the one refused outside DEV_MODE, and its operators' password is long
// enough.
func TestMakefileDevDefaultsPassTheRules(t *testing.T) {
	t.Parallel()
	mk, err := os.ReadFile(filepath.Join("..", "..", "..", "Makefile"))
	require.NoError(t, err)
	vars := map[string]string{}
	for line := range strings.Lines(string(mk)) {
		if name, value, ok := strings.Cut(line, ":="); ok && strings.HasPrefix(name, "DEV_") {
			vars[strings.TrimSpace(name)] = strings.TrimSpace(value)
		}
	}
	require.Equal(t, wiring.DevJWTSecret, vars["DEV_JWT_SECRET"])
	require.Equal(t, wiring.DevOpsPassword, vars["DEV_OPS_PASS"])
	_, err = wiring.LoadConfig(envMap(map[string]string{
		"JWT_SECRET": vars["DEV_JWT_SECRET"], "DEV_MODE": "true",
		"OPS_USERNAME": vars["DEV_OPS_USER"], "OPS_PASSWORD": vars["DEV_OPS_PASS"],
	}))
	require.NoError(t, err)
}
