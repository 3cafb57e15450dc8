package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/evpower/evpush/domain"
)

// BookTx writes b inside tx, the queue's transaction that completes an event
// job (with its retry jobs): a crash never leaves bookkeeping without the
// job's completion, or the reverse. One round trip, a statement per kind of
// change and none for a kind with nothing to write.
//
// It first locks every row it writes, in id order: event jobs finishing at
// once write overlapping devices (a station owner's, in a burst), each its
// own mix of successes and failures, and rows locked in whatever order each
// statement meets them would deadlock; PostgreSQL would then abort one
// transaction and River resend that whole event, a duplicate on each device.
func (s *Store) BookTx(ctx context.Context, tx pgx.Tx, b domain.Bookkeeping) error {
	if b.Empty() {
		return nil
	}
	goneIDs, goneEndpoints := make([]string, len(b.Gone)), make([]string, len(b.Gone))
	for i, g := range b.Gone {
		goneIDs[i], goneEndpoints[i] = g.ID, g.Endpoint
	}
	batch := &pgx.Batch{}
	batch.Queue(`SELECT FROM push_subscriptions WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
		slices.Concat(goneIDs, b.Succeeded, b.Failed))
	if len(b.Gone) > 0 {
		batch.Queue(`DELETE FROM push_subscriptions p USING unnest($1::uuid[], $2::text[]) AS g(id, endpoint)
			WHERE p.id = g.id AND p.endpoint = g.endpoint`, goneIDs, goneEndpoints)
	}
	if len(b.Succeeded) > 0 {
		batch.Queue(`UPDATE push_subscriptions SET failure_count = 0, last_success_at = $2 WHERE id = ANY($1::uuid[])`,
			b.Succeeded, b.At)
	}
	if len(b.Failed) > 0 {
		batch.Queue(`UPDATE push_subscriptions SET failure_count = failure_count + 1 WHERE id = ANY($1::uuid[])`, b.Failed)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("error recording push outcomes: %w", translate(err))
	}
	return nil
}
