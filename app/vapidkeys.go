package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
)

// DefaultKeyReload is how often each process reads the VAPID keys again, so
// a rotation made elsewhere (`evpush vapid rotate`, another instance)
// reaches every instance within it, without a restart.
const DefaultKeyReload = 30 * time.Second

// missReloadInterval bounds the reloads a subscribe naming an unknown key
// triggers: a key rotated in on another instance a moment ago is found at
// once, and a stream of made-up keys costs one query a second at most.
const missReloadInterval = time.Second

// Keys is the process's VAPID keyring: what it signs with, which key
// GET /vapid-public-key serves. It is loaded from the store and swapped
// whole on each reload, so readers never lock.
type Keys struct {
	store      ports.VAPIDKeyStore
	configured domain.VAPIDKeys
	clock      ports.Clock
	log        *slog.Logger

	ring     atomic.Pointer[domain.Keyring]
	reloadMu sync.Mutex // one reload at a time
	lastMiss atomic.Int64
}

// NewKeys returns an empty keyring over store; Load fills it. configured is
// the pair set by VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY, if any: it is
// authoritative (always the current key here).
func NewKeys(store ports.VAPIDKeyStore, configured domain.VAPIDKeys, clock ports.Clock, log *slog.Logger) *Keys {
	if clock == nil {
		clock = ports.SystemClock{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Keys{store: store, configured: configured, clock: clock, log: log}
}

// Load reads the keys from the store and swaps them in. On an error the
// previous keys stay in use.
func (k *Keys) Load(ctx context.Context) error {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	stored, err := k.store.Keys(ctx)
	if err != nil {
		return fmt.Errorf("error loading VAPID keys: %w", err)
	}
	ring, err := domain.NewKeyring(stored, k.configured)
	if err != nil {
		return fmt.Errorf("error loading VAPID keys: %w", err)
	}
	if old := k.ring.Swap(ring); old != nil && old.Current().ID != ring.Current().ID {
		cur := ring.Current()
		k.log.Info("VAPID key rotated: serving the new current key", "key_id", cur.ID, "fingerprint", cur.Fingerprint(),
			"previous_key_id", old.Current().ID)
	}
	return nil
}

// Run reloads the keys every interval until ctx ends. A failed reload is
// logged and the keys in use stay.
func (k *Keys) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.Load(ctx); err != nil && ctx.Err() == nil {
				k.log.Error("VAPID keys not reloaded; the previous ones stay in use", "error", err)
			}
		}
	}
}

// Ring is the keyring as last loaded; nil before Load.
func (k *Keys) Ring() *domain.Keyring { return k.ring.Load() }

// Key returns the key with this ID: what the sender signs a subscription's
// pushes with.
func (k *Keys) Key(id int) (domain.VAPIDKey, bool) { return k.Ring().Key(id) }

// ByPublicKey finds a key by its public half (canonical). A key this process
// does not know yet may have been rotated in elsewhere a moment ago: the
// keys are reloaded once, at most once per missReloadInterval.
func (k *Keys) ByPublicKey(ctx context.Context, publicKey string) (domain.VAPIDKey, bool, error) {
	if key, ok := k.Ring().ByPublicKey(publicKey); ok {
		return key, true, nil
	}
	now := k.clock.Now().UnixNano()
	last := k.lastMiss.Load()
	if now-last < int64(missReloadInterval) || !k.lastMiss.CompareAndSwap(last, now) {
		return domain.VAPIDKey{}, false, nil
	}
	if err := k.Load(ctx); err != nil {
		return domain.VAPIDKey{}, false, err
	}
	key, ok := k.Ring().ByPublicKey(publicKey)
	return key, ok, nil
}

// RotateResult is what a rotation did.
type RotateResult struct {
	domain.Rotation
	// RetiredHeldBy is how many subscriptions the retired key still holds:
	// they move to the new key as their devices next load the PWA.
	RetiredHeldBy int
}

// ErrKeysConfigured refuses a rotation while VAPID_PUBLIC_KEY and
// VAPID_PRIVATE_KEY are set: they stay authoritative, and a service started
// with them would make their key current again.
var ErrKeysConfigured = errors.New("the VAPID keys are set by VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY, " +
	"which stay authoritative: this command changes only keys stored in the database")

// RotateVAPIDKey makes a fresh key pair current and turns the current one
// retiring: it signs on for the devices made with it until they move (the
// client script moves them on their next page load). revoke stops it
// signing at once, for a key that leaked. Running services pick the new key
// up at their next reload. configured says whether this process has keys
// set by configuration, which refuses the rotation (ErrKeysConfigured).
func RotateVAPIDKey(ctx context.Context, store ports.VAPIDKeyStore, configured bool, revoke bool) (RotateResult, error) {
	if configured {
		return RotateResult{}, ErrKeysConfigured
	}
	next, err := domain.GenerateVAPIDKeys()
	if err != nil {
		return RotateResult{}, fmt.Errorf("error generating a VAPID key pair: %w", err)
	}
	rotation, err := store.Rotate(ctx, next, revoke)
	if err != nil {
		return RotateResult{}, err
	}
	usage, err := store.KeyUsage(ctx)
	if err != nil {
		return RotateResult{}, err
	}
	res := RotateResult{Rotation: rotation}
	for _, u := range usage {
		if u.Key.ID == rotation.Retired.ID {
			res.RetiredHeldBy = u.Subscriptions
		}
	}
	return res, nil
}

// ListVAPIDKeys returns every stored key, by ID, with the subscriptions
// each still holds. It opens no private key.
func ListVAPIDKeys(ctx context.Context, store ports.VAPIDKeyStore) ([]domain.KeyUsage, error) {
	return store.KeyUsage(ctx)
}
