package e2e

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/test/pushservice"
)

// TestSoak mixes every public call from many clients at once: subscribe,
// unsubscribe, test pushes, charging start and stop. It requires zero 5xx,
// every committed charging event delivered to its driver's device exactly
// once, a heap that does not grow with the load, and metrics whose series do
// not grow with the hosts, methods and paths clients choose. `make test` runs a short
// version; `make soak` runs EVPUSH_SOAK=30s with EVPUSH_SOAK_CLIENTS=50.
func TestSoak(t *testing.T) {
	t.Parallel()
	dur, clients := 6*time.Second, 20
	if v := os.Getenv("EVPUSH_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err)
		dur = d
	}
	if v := os.Getenv("EVPUSH_SOAK_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		clients = n
	}
	e := setup(t, map[string]string{"MAX_SUBSCRIPTIONS_PER_USER": "1000"})
	e.station("st-soak", "owner-soak", "9.5")

	heapNow := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}

	type client struct {
		tok     string
		stable  *pushservice.Device // never unsubscribed: counts the charging events
		events  atomic.Int64        // charging events the API accepted
		session string
	}
	cs := make([]*client, clients)
	for i := range cs {
		c := &client{tok: driverToken(t, "soak-"+strconv.Itoa(i)), stable: e.Push.NewDevice()}
		e.subscribe(c.tok, c.stable, "client")
		cs[i] = c
	}
	soakDistinctHosts(t, e, 200)
	heapBefore := heapNow()

	var (
		requests, errors5xx atomic.Int64
		statusMu            sync.Mutex
		statuses            = map[int]int{}
	)
	do := func(method, path, tok string, body any) response {
		r := e.call(method, path, tok, body)
		requests.Add(1)
		if r.Status >= 500 {
			errors5xx.Add(1)
		}
		statusMu.Lock()
		statuses[r.Status]++
		statusMu.Unlock()
		return r
	}
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(i), 7))
			var extra []*pushservice.Device
			for time.Now().Before(stop) {
				switch op := rnd.IntN(10); {
				case op < 3: // another device
					d := e.Push.NewDevice()
					if do("POST", api+"/subscribe", c.tok, subscribeBody(d, "client")).Status == http.StatusOK {
						extra = append(extra, d)
					}
				case op < 5 && len(extra) > 0:
					d := extra[0]
					extra = extra[1:]
					do("POST", api+"/unsubscribe", c.tok, map[string]any{"endpoint": d.Endpoint})
				case op < 6:
					do("POST", api+"/test", c.tok, nil)
				case c.session == "":
					r := do("POST", chargingAPI+"/start", c.tok, map[string]any{"station_id": "st-soak", "connector_id": i + 1})
					if r.Status == http.StatusOK {
						c.session = r.Body["session_id"].(string)
						c.events.Add(1)
					}
				default:
					r := do("POST", chargingAPI+"/stop", c.tok, map[string]any{"session_id": c.session, "energy_kwh": rnd.Float64() * 40})
					if r.Status == http.StatusOK {
						c.session = ""
						c.events.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	t.Logf("soak: %d clients, %s, %d requests (%.0f/s), statuses %v", clients, dur, requests.Load(),
		float64(requests.Load())/dur.Seconds(), statuses)
	require.Zero(t, errors5xx.Load(), "no 5xx: %v", statuses)

	// Every accepted charging event reaches the driver's stable device once.
	// Test pushes reach it too; they carry no Topic.
	deadline := time.Now().Add(60 * time.Second)
	for _, c := range cs {
		want := int(c.events.Load())
		for {
			got := 0
			for _, m := range e.Push.Messages(c.stable) {
				if m.Topic != "" && m.Status == http.StatusCreated {
					got++
				}
			}
			if got == want {
				break
			}
			require.Less(t, got, want+1, "a charging event delivered twice")
			if time.Now().After(deadline) {
				t.Fatalf("client's device got %d of %d charging notifications", got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	require.Empty(t, e.Push.Errors())

	heapAfter := heapNow()
	t.Logf("soak: heap %d KiB before, %d KiB after", heapBefore/1024, heapAfter/1024)
	// The push service keeps every message in this process; allow for that,
	// but a leak proportional to the load would blow well past it.
	require.Less(t, heapAfter, heapBefore+uint64(requests.Load())*8*1024+64<<20, "heap stable")
}

// soakDistinctHosts subscribes devices on as many endpoint hosts, pushes to
// every one through the real path (POST /test), and sends requests with
// made-up methods and paths. A metric label fed by what clients choose would
// add series with each of them, so the series must not change in number.
// The hosts are loopback addresses (127.0.0.2, 127.0.0.3, …) because no test
// controls DNS; to the metrics they are what x1.googleapis.com,
// x2.googleapis.com… are in production: hosts the subscriber picked.
func soakDistinctHosts(t *testing.T, e *env, hosts int) {
	t.Helper()
	require.LessOrEqual(t, hosts, 250, "127.0.0.2 onwards, within one /24")
	tok := driverToken(t, "soak-hosts")

	// Warm up, so every label set used below exists before counting.
	e.subscribe(tok, e.Push.NewDevice(), "client")
	r := e.call("POST", api+"/test", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	strangeRequest(t, e, "X0", "/x0")
	before := requestSeries(t, e)

	for i := range hosts {
		d, err := e.Push.NewDeviceAt("127.0.0." + strconv.Itoa(2+i))
		require.NoError(t, err, "127.0.0.0/8 is loopback on Linux")
		e.subscribe(tok, d, "client")
	}
	r = e.call("POST", api+"/test", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.EqualValues(t, hosts+1, r.Body["sent_to"], "every host accepted its push: %s", r.Raw)
	for i := 1; i <= 50; i++ {
		strangeRequest(t, e, "X"+strconv.Itoa(i), "/x"+strconv.Itoa(i))
	}
	require.Equal(t, before, requestSeries(t, e), "series by metric, before and after")
}

// strangeRequest sends a request with any method token (Go's server accepts
// them all) to an unknown path, outside the OpenAPI contract.
func strangeRequest(t *testing.T, e *env, method, path string) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// requestSeries counts the series of the metrics labelled per request or
// push. The scrape-time gauges (queue depth, subscriptions) are left out:
// their labels come from the database and move with the work in flight.
func requestSeries(t *testing.T, e *env) map[string]int {
	t.Helper()
	rec := httptest.NewRecorder()
	e.Svc.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	require.NoError(t, err)
	counts := map[string]int{}
	for _, name := range []string{"evpush_http_requests_total", "evpush_http_request_duration_seconds",
		"evpush_push_deliveries_total", "evpush_push_request_duration_seconds"} {
		f, ok := families[name]
		require.True(t, ok, "metric %s exported", name)
		counts[name] = len(f.GetMetric())
	}
	return counts
}
