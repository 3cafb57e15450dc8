package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/queue"
	"github.com/evpower/evpush/cmd/evpush/wiring"
	"github.com/evpower/evpush/test/pushservice"
)

// processBudget bounds the waits of tests that run the binary: a build, a
// start (migrations, VAPID keys) and then the work, on a loaded 2-core
// machine.
const processBudget = 2 * waitBudget

// TestTwoWorkerProcessesShareABurst: two `evpush serve -workers-only`
// processes on one database share a burst of charging events committed
// through the Outbox. Each device gets each event's notification exactly
// once, both processes work event jobs (River records each client's id in
// the jobs it works), neither logs an error, and both stop cleanly on
// SIGTERM.
func TestTwoWorkerProcessesShareABurst(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	e := setupWith(t, nil, wiring.Options{NoWorkers: true}) // the API subscribes; it works no job
	const drivers, owners, sessions = 8, 4, 160             // 320 events, 960 pushes
	// Every push takes pushDelay at the push service (a real one takes tens
	// to hundreds of milliseconds), so an event job holds one of a process's
	// 20 event slots (WORKERS) at least that long: one process alone would need 16
	// rounds (about 5 s) for the burst, while the other is woken by the
	// commits' NOTIFY and polls every second. So the other finds jobs waiting
	// however the machine's load falls, and both work, by construction.
	const pushDelay = 300 * time.Millisecond
	type note struct{ kind, session string } // the payload's data.type and data.session_id
	want := map[*pushservice.Device]map[note]int{}
	newDevice := func(tok, role string) *pushservice.Device {
		d := e.Push.NewDevice()
		e.Push.Respond(d, pushservice.Response{Status: http.StatusCreated, Delay: pushDelay})
		e.subscribeIn(tok, d, role, "en")
		want[d] = map[note]int{}
		return d
	}
	driverDevices := make([][]*pushservice.Device, drivers) // one each
	for i := range drivers {
		driverDevices[i] = append(driverDevices[i], newDevice(driverToken(t, fmt.Sprintf("driver-%d", i)), "client"))
	}
	ownerDevices := make([][]*pushservice.Device, owners) // two each
	for i := range owners {
		tok := ownerToken(t, fmt.Sprintf("owner-%d", i))
		ownerDevices[i] = append(ownerDevices[i], newDevice(tok, "owner"), newDevice(tok, "owner"))
	}

	// PUSH_TIMEOUT far above pushDelay: a request timed out on a loaded
	// machine would be retried, a second copy this test would count.
	workerEnv := map[string]string{
		"DATABASE_URL": e.DBURL, "JWT_SECRET": testSecret, "PUSH_ALLOW_LOOPBACK": "true",
		"PUSH_TIMEOUT": "30s", "LOG_LEVEL": "info", "LOG_FORMAT": "json", "WORKERS": "20",
	}
	workers := []*process{startProcess(t, workerEnv, "-workers-only"), startProcess(t, workerEnv, "-workers-only")}
	ids := map[string]bool{}
	for _, w := range workers {
		ids[w.workersStarted(t)] = true
	}
	require.Len(t, ids, 2, "each process has a River client id of its own")

	// The burst, committed once both work: one transaction per event, as the
	// charging service commits them.
	outbox, err := queue.NewOutbox(e.Svc.DB)
	require.NoError(t, err)
	ctx := context.Background()
	commit := func(insert func(tx *sql.Tx) error) {
		tx, err := e.Svc.DB.BeginTx(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, insert(tx))
		require.NoError(t, tx.Commit())
	}
	for i := range sessions {
		session, station := fmt.Sprintf("s-%03d", i), fmt.Sprintf("st-%d", i%owners)
		driver, owner := fmt.Sprintf("driver-%d", i%drivers), fmt.Sprintf("owner-%d", i%owners)
		commit(func(tx *sql.Tx) error {
			return outbox.ChargingStarted(ctx, tx, queue.ChargingStarted{
				SessionID: session, StationID: station, ConnectorID: 1, UserID: driver, OwnerID: owner})
		})
		commit(func(tx *sql.Tx) error {
			return outbox.ChargingCompleted(ctx, tx, queue.ChargingCompleted{
				SessionID: session, StationID: station, UserID: driver, OwnerID: owner, EnergyKWh: 10, Amount: 125})
		})
		for _, d := range driverDevices[i%drivers] {
			want[d][note{"charging_started", session}] = 1
			want[d][note{"charging_completed", session}] = 1
		}
		for _, d := range ownerDevices[i%owners] {
			want[d][note{"new_session", session}] = 1
			want[d][note{"session_completed", session}] = 1
		}
	}

	// Every event job completed. A job completes only after its pushes were
	// answered, so the push service has recorded them all by then.
	deadline := time.Now().Add(processBudget)
	for {
		var done int
		require.NoError(t, e.Svc.DB.QueryRow(`SELECT count(*) FROM river_job
			WHERE kind IN ('charging_started', 'charging_completed') AND state = 'completed'`).Scan(&done))
		if done == 2*sessions {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d event jobs completed after %v", done, 2*sessions, processBudget)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.idle() // and nothing else pending: no retry job

	require.Empty(t, e.Push.Errors(), "every push verified and decrypted")
	for d, w := range want {
		got := map[note]int{}
		for _, m := range e.Push.Messages(d) {
			require.Equal(t, http.StatusCreated, m.Status)
			data := payload(t, m)["data"].(map[string]any)
			got[note{data["type"].(string), data["session_id"].(string)}]++
		}
		var wrong []string // "<kind> <session>: <times received>"
		for n := range w {
			if got[n] != 1 {
				wrong = append(wrong, fmt.Sprintf("%s %s: %d", n.kind, n.session, got[n]))
			}
		}
		for n, c := range got {
			if w[n] == 0 {
				wrong = append(wrong, fmt.Sprintf("%s %s: %d, not its own", n.kind, n.session, c))
			}
		}
		require.Empty(t, wrong, "device %s: each of its %d notifications exactly once", d.ID, len(w))
	}

	// Both processes worked event jobs, each once: attempted_by names one
	// client per job, and only these two.
	rows, err := e.Svc.DB.Query(`SELECT array_to_string(attempted_by, ' '), count(*) FROM river_job
		WHERE kind IN ('charging_started', 'charging_completed') GROUP BY 1`)
	require.NoError(t, err)
	worked := map[string]int{}
	for rows.Next() {
		var by string
		var n int
		require.NoError(t, rows.Scan(&by, &n))
		worked[by] = n
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	t.Logf("event jobs per process: %v", worked)
	require.Len(t, worked, 2, "both processes worked event jobs, each job one attempt: %v", worked)
	for id := range worked {
		require.Contains(t, ids, id, "a job attempted by a client other than the two processes")
	}

	// Both are still running: SIGTERM finds them serving and they exit 0,
	// with no error logged.
	for _, w := range workers {
		require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	}
	for _, w := range workers {
		require.NoError(t, w.cmd.Wait(), "exit 0\n%s", w.out.String())
		var shutdown bool
		for _, r := range w.records(t) {
			require.NotEqual(t, "ERROR", r["level"], "logged an error: %v", r)
			shutdown = shutdown || r["msg"] == "shutting down"
		}
		require.True(t, shutdown, "SIGTERM found it running")
	}
}

// workersStarted waits until the process, logging JSON, reports its workers
// started, and returns its River client id.
func (p *process) workersStarted(t testing.TB) string {
	t.Helper()
	deadline := time.Now().Add(processBudget)
	for {
		for _, r := range p.records(t) {
			if r["msg"] == "workers started" {
				id, _ := r["client_id"].(string)
				require.NotEmpty(t, id, "client_id in %v", r)
				return id
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"workers started\" after %v", processBudget)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// records parses the complete lines of the process's output so far (the
// pipe may hand over the last one in pieces), which with LOG_FORMAT=json are
// one log record each and nothing else: anything that is not a record (the
// "evpush: …" of a failed start, a panic) fails the test at once.
func (p *process) records(t testing.TB) []map[string]any {
	t.Helper()
	s := p.out.String()
	var out []map[string]any
	for _, line := range strings.Split(s[:strings.LastIndex(s, "\n")+1], "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r), "not a log record: %s", line)
		out = append(out, r)
	}
	return out
}
