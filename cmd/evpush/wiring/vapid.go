package wiring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/evpower/evpush/adapters/keyseal"
	"github.com/evpower/evpush/adapters/postgres"
	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
)

// openKeyStore connects to the database for a `evpush vapid` command.
func openKeyStore(ctx context.Context, cfg Config) (*postgres.Store, func(), error) {
	pool, db, err := postgres.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	closeAll := func() { _ = db.Close(); pool.Close() }
	opts, err := storeOptions(cfg)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	store, err := postgres.NewStore(db, opts...)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return store, closeAll, nil
}

// errRotateConfigured explains how to rotate keys set by configuration.
var errRotateConfigured = fmt.Errorf("%w.\n"+
	"To rotate them, either:\n"+
	"  - keep them in the configuration: set a new pair (evpush vapid generate) as VAPID_PUBLIC_KEY and\n"+
	"    VAPID_PRIVATE_KEY on every instance and restart them; devices subscribed with the old pair get\n"+
	"    nothing until they move to the new key (the client script does that on their next page load); or\n"+
	"  - hand the keys to the database: unset VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY here and run this\n"+
	"    command again, then remove them from every instance's configuration and restart it; the old pair's\n"+
	"    devices get nothing from instances without it until they move (README, \"Rotating the VAPID key\")",
	app.ErrKeysConfigured)

// RotateVAPIDKey is `evpush vapid rotate [-revoke]`: a fresh key pair
// becomes current, the current one retires (and with revoke stops signing),
// and out says what happens next.
func RotateVAPIDKey(ctx context.Context, cfg Config, revoke bool, out io.Writer) error {
	configured := cfg.VAPIDKeys != (domain.VAPIDKeys{})
	if configured {
		return errRotateConfigured
	}
	store, closeStore, err := openKeyStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	res, err := app.RotateVAPIDKey(ctx, store, configured, revoke)
	switch {
	case errors.Is(err, keyseal.ErrNoKey), errors.Is(err, keyseal.ErrWrongKey), errors.Is(err, keyseal.ErrMalformed):
		return fmt.Errorf("%w\nnothing changed: run this command with the VAPID_KEY_ENCRYPTION_KEY the services use; "+
			"if that key is lost, use -revoke with the new one (README, \"Rotating the VAPID key\")", sealError(err))
	case err != nil:
		return err
	}
	printRotation(out, cfg, res, revoke)
	return nil
}

func printRotation(out io.Writer, cfg Config, res app.RotateResult, revoke bool) {
	old, cur := res.Retired, res.Current
	fmt.Fprintf(out, "VAPID key %d (%s) is now current: new subscriptions are made with it.\n", cur.ID, cur.Fingerprint())
	fmt.Fprintf(out, "Running instances serve it from GET /vapid-public-key within VAPID_RELOAD_INTERVAL (%s), without a restart.\n",
		cfg.VAPIDReloadInterval)
	if revoke {
		fmt.Fprintf(out, "VAPID key %d (%s) is revoked: from the next reload no instance signs with it, and its %d subscription(s) "+
			"get nothing until their devices move to the new key (the client script moves them on their next page load).\n",
			old.ID, old.Fingerprint(), res.RetiredHeldBy)
	} else {
		fmt.Fprintf(out, "VAPID key %d (%s) is retiring: it still signs for its %d subscription(s) until their devices move to the new key "+
			"(the client script moves them on their next page load). The hourly cleanup deletes it once none is left, "+
			"or after VAPID_RETIRE_AFTER (%s) together with the subscriptions that never moved.\n",
			old.ID, old.Fingerprint(), res.RetiredHeldBy, cfg.Cleanup.RetireAfter)
	}
	for _, k := range res.AlsoRevoked {
		fmt.Fprintf(out, "VAPID key %d (%s), retiring, is revoked too: its private key does not open with this "+
			"VAPID_KEY_ENCRYPTION_KEY, so no instance could sign with it.\n", k.ID, k.Fingerprint())
	}
	if old.Configured && !revoke {
		fmt.Fprintf(out, "Warning: key %d was set by VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY: the database does not hold its private key, "+
			"so only instances that still have those settings sign for its subscriptions, and such instances keep serving it as "+
			"the current key (their configuration is authoritative). Remove the settings from them and restart them.\n", old.ID)
	}
	if cfg.VAPIDKeyEncryptionKey == nil && !cfg.DevMode {
		fmt.Fprintln(out, "Warning: the new private key is stored in plain text (table vapid_keys): set VAPID_KEY_ENCRYPTION_KEY "+
			"(e.g. openssl rand -base64 32) here and on every instance to keep it encrypted.")
	}
}

// ListVAPIDKeys is `evpush vapid list`: every stored key with its state
// and how many subscriptions it still holds. It opens no private key.
func ListVAPIDKeys(ctx context.Context, cfg Config, out io.Writer) error {
	store, closeStore, err := openKeyStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	usage, err := app.ListVAPIDKeys(ctx, store)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATE\tSIGNS\tSUBSCRIPTIONS\tCREATED\tRETIRING SINCE\tFINGERPRINT\tPUBLIC KEY")
	for _, u := range usage {
		k := u.Key
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", k.ID, k.State, signs(k), u.Subscriptions,
			stamp(k.CreatedAt), stamp(k.RetiringSince), fingerprint(k), k.PublicKey)
	}
	return w.Flush()
}

// signs says whether and with what the key signs, for the listing.
func signs(k domain.VAPIDKey) string {
	switch {
	case k.PublicKey == "":
		return "not yet (settled on the next start)"
	case k.Revoked():
		return "no (revoked " + stamp(k.RevokedAt) + ")"
	case k.Configured:
		return "yes (configured)"
	}
	return "yes"
}

func fingerprint(k domain.VAPIDKey) string {
	if k.PublicKey == "" {
		return "-"
	}
	return k.Fingerprint()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
