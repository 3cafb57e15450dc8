package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/queue"
)

// BenchmarkCommitToDelivery measures how long a committed charging event
// takes to reach the push service: commit → LISTEN/NOTIFY → fan-out job →
// delivery job → encrypted POST. Events are paced (one every 10 ms), so this
// is latency at light load, not throughput (see `make bench` for that).
//
//	go test -run '^$' -bench CommitToDelivery -benchtime 400x ./test/e2e/
func BenchmarkCommitToDelivery(b *testing.B) {
	e := setup(b, nil)
	e.station("st-1", "owner-1", "10")
	d := e.Push.NewDevice()
	e.subscribe(driverToken(b, "driver-1"), d, "client")
	outbox, err := queue.NewOutbox(e.Svc.DB)
	require.NoError(b, err)
	ctx := context.Background()

	committed := make(map[string]time.Time, b.N)
	b.ResetTimer()
	for i := range b.N {
		session := fmt.Sprintf("bench-%d", i)
		tx, err := e.Svc.DB.BeginTx(ctx, nil)
		require.NoError(b, err)
		require.NoError(b, outbox.ChargingStarted(ctx, tx, queue.ChargingStarted{
			SessionID: session, StationID: "st-1", ConnectorID: 1, UserID: "driver-1",
		}))
		require.NoError(b, tx.Commit())
		committed[session] = time.Now()
		time.Sleep(10 * time.Millisecond)
	}
	msgs := e.Push.WaitFor(b, d, b.N, time.Minute)
	b.StopTimer()

	lat := make([]time.Duration, 0, len(msgs))
	for _, m := range msgs {
		var p struct {
			Data struct {
				SessionID string `json:"session_id"`
			} `json:"data"`
		}
		require.NoError(b, json.Unmarshal(m.Payload, &p))
		lat = append(lat, m.Received.Sub(committed[p.Data.SessionID]))
	}
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op")
}
