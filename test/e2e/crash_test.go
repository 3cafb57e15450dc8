package e2e

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/cmd/evpush/wiring"
	"github.com/evpower/evpush/test/pushservice"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// evpushBinary builds cmd/evpush once per test run.
func evpushBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "evpush-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "evpush")
		buildOut, buildErr = exec.Command("go", "build", "-o", binPath, "github.com/evpower/evpush/cmd/evpush").CombinedOutput()
	})
	require.NoError(t, buildErr, "%s", buildOut)
	return binPath
}

// process is a running `evpush serve` child process.
type process struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startProcess(t testing.TB, env map[string]string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(evpushBinary(t), append([]string{"serve"}, args...)...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{cmd: cmd, out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("evpush output:\n%s", p.out.String())
		}
	})
	return p
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWorkerKilledMidDeliveryLosesNothing: a worker process dies (SIGKILL)
// while its event job's push request is in flight. The committed event is
// still delivered, by another process, once River rescues the stuck job:
// the event is sent again (at-least-once) and its job completes.
func TestWorkerKilledMidDeliveryLosesNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	e := setupWith(t, nil, wiring.Options{NoWorkers: true}) // the API only inserts
	e.station("st-1", "owner-1", "10")
	d := e.Push.NewDevice()
	// The first request hangs until the worker dies; later ones succeed.
	e.Push.Respond(d, pushservice.Response{Status: http.StatusCreated, Delay: time.Minute},
		pushservice.Response{Status: http.StatusCreated})
	e.subscribe(driverToken(t, "driver-1"), d, "client")
	// PUSH_TIMEOUT leaves the rescued attempt room on a loaded machine (a
	// timeout there would be a real, extra attempt); JOB_RESCUE_AFTER is the
	// least the config allows above it.
	workerEnv := map[string]string{
		"DATABASE_URL": e.DBURL, "JWT_SECRET": testSecret, "PUSH_ALLOW_LOOPBACK": "true",
		"PUSH_TIMEOUT": "6s", "JOB_RESCUE_AFTER": "12s", "LOG_LEVEL": "warn",
	}

	first := startProcess(t, workerEnv, "-workers-only")
	r := e.call("POST", chargingAPI+"/start", driverToken(t, "driver-1"), map[string]any{"station_id": "st-1", "connector_id": 1})
	require.Equal(t, http.StatusOK, r.Status)
	session := r.Body["session_id"].(string)

	// Kill the worker while its push request is in flight. "running" in
	// river_job is not enough: under load the worker can die before its
	// request leaves, and the rescued attempt then meets the hanging answer
	// meant for the killed one (the cause of an old flake: 3 attempts).
	state, _ := e.eventState("charging_started", session, "running")
	require.Equal(t, "running", state)
	require.Eventually(t, func() bool { return e.Push.Waiting(d) == 1 }, waitBudget, 20*time.Millisecond,
		"the worker's push request reaches the push service")
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	_ = first.cmd.Wait()

	second := startProcess(t, workerEnv, "-workers-only")
	var delivered []pushservice.Message
	require.Eventually(t, func() bool {
		delivered = delivered[:0]
		for _, m := range e.Push.Messages(d) {
			if m.Status == http.StatusCreated {
				delivered = append(delivered, m)
			}
		}
		return len(delivered) > 0
	}, 90*time.Second, 100*time.Millisecond, "the rescued job is delivered")
	state, attempt := e.eventState("charging_started", session)
	require.Equal(t, "completed", state)
	require.Equal(t, 2, attempt, "the killed attempt counts once")
	require.NotEmpty(t, delivered, "at least once")
	msgs := e.Push.Messages(d)
	require.Len(t, msgs, 2, "one request per attempt")
	require.Zero(t, msgs[0].Status, "the killed attempt's request was cut, never answered")

	// SIGTERM stops the second process cleanly.
	require.NoError(t, second.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, second.cmd.Wait(), second.out.String())
}

// TestSIGTERMFinishesTheJobInFlight: on SIGTERM the process stops taking
// work, lets the running delivery finish, and exits 0; the job is completed.
func TestSIGTERMFinishesTheJobInFlight(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	e := setupWith(t, nil, wiring.Options{NoWorkers: true})
	e.station("st-1", "owner-1", "10")
	d := e.Push.NewDevice()
	e.Push.Respond(d, pushservice.Response{Status: http.StatusCreated, Delay: 2 * time.Second})
	e.subscribe(driverToken(t, "driver-1"), d, "client")
	worker := startProcess(t, map[string]string{
		"DATABASE_URL": e.DBURL, "JWT_SECRET": testSecret, "PUSH_ALLOW_LOOPBACK": "true",
		"HTTP_ADDR": freeAddr(t), "SHUTDOWN_TIMEOUT": "20s", "LOG_LEVEL": "info",
	})

	r := e.call("POST", chargingAPI+"/start", driverToken(t, "driver-1"), map[string]any{"station_id": "st-1", "connector_id": 1})
	require.Equal(t, http.StatusOK, r.Status)
	session := r.Body["session_id"].(string)
	state, _ := e.eventState("charging_started", session, "running")
	require.Equal(t, "running", state)
	require.Eventually(t, func() bool { return e.Push.Waiting(d) == 1 }, waitBudget, 20*time.Millisecond,
		"the push request is in flight")
	require.NoError(t, worker.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, worker.cmd.Wait(), "exit 0\n%s", worker.out.String())

	state, attempt := e.eventState("charging_started", session)
	require.Equal(t, "completed", state)
	require.Equal(t, 1, attempt)
	msgs := e.Push.Messages(d)
	require.Len(t, msgs, 1)
	require.Equal(t, http.StatusCreated, msgs[0].Status)
	require.Contains(t, worker.out.String(), "shutting down")
}
