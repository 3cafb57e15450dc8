// Command bench is evpush's benchmark harness (`make bench`). On this machine,
// against the local PostgreSQL and a loopback push service that answers 201
// (checking every request's Authorization header and decrypting a sample),
// it measures a bare webpush-go send loop, the producer's commit alone (no
// worker running), the service draining that backlog, the product's durable
// path end to end, latency at a steady load, the subscribe API, and the
// service's peak memory, then prints one line per figure: `name value unit`.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	webpushgo "github.com/SherClockHolmes/webpush-go"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/evpower/evpush/adapters/auth"
	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/adapters/queue"
	"github.com/evpower/evpush/adapters/webpush"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/test/pushservice"
)

var (
	adminURL    = flag.String("db", envOr("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL admin URL")
	seqSends    = flag.Int("seq", 2000, "baseline_seq: sequential sends")
	parSends    = flag.Int("par", 20000, "baseline_par: parallel sends")
	parWorkers  = flag.Int("par-workers", 64, "baseline_par: goroutines")
	e2eEvents   = flag.Int("events", 6000, "e2e: charging events (2 deliveries each)")
	backlog     = flag.Int("backlog", 6000, "commit_only and drain: events committed while no worker runs, then worked off")
	drivers     = flag.Int("drivers", 1000, "drivers, 2 devices each")
	steadyRate  = flag.Int("steady-rate", 500, "steady: events per second")
	steadyFor   = flag.Duration("steady-for", 20*time.Second, "steady: duration")
	lightRate   = flag.Int("light-rate", 150, "steady_light: events per second (a load this machine sustains)")
	lightFor    = flag.Duration("light-for", 10*time.Second, "steady_light: duration")
	apiFor      = flag.Duration("api-for", 10*time.Second, "api: duration")
	apiClients  = flag.Int("api-clients", 50, "api: concurrent clients")
	workers     = flag.Int("workers", 0, "WORKERS for the service (0: its default)")
	profileDir  = flag.String("profile", "", "write CPU profiles of the service (e2e and api phases) to this directory")
	keepOutput  = flag.Bool("v", false, "show the service's log")
	keepDB      = flag.Bool("keep-db", false, "leave the run's database (-db-name) for inspection")
	dbParams    = flag.String("db-params", "", "extra DATABASE_URL parameters for the service, e.g. pool_max_conns=16")
	dbName      = flag.String("db-name", "evpush_bench", "the database the run recreates (another name lets two runs share the server)")
	jwtSecret   = "bench-secret-0123456789abcdef0123"
	commitBatch = 8 // goroutines committing events
)

// devices is each driver's number of devices: every event is that many
// deliveries.
const devices = 2

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// figure is one line of the summary.
type figure struct {
	name  string
	value float64
	unit  string
}

var figures []figure

func report(name string, value float64, unit string) {
	figures = append(figures, figure{name, value, unit})
	log.Printf("%s %.2f %s", name, value, unit)
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	if err := run(); err != nil {
		log.Fatal(err)
	}
	fmt.Println()
	for _, f := range figures {
		fmt.Printf("%s %s %s\n", f.name, strconv.FormatFloat(f.value, 'f', 2, 64), f.unit)
	}
}

func run() error {
	ctx := context.Background()
	keys, err := domain.GenerateVAPIDKeys()
	if err != nil {
		return err
	}
	push := pushservice.Start(pushservice.WithVAPIDPublicKey(keys.PublicKey), pushservice.WithDecryptSample(50))
	defer push.Close()

	if err := baselines(push, keys); err != nil {
		return err
	}
	bin, err := build()
	if err != nil {
		return err
	}
	dbURL, drop, err := freshDatabase(ctx, *dbName)
	if err != nil {
		return err
	}
	defer drop()
	svcURL := withParams(dbURL, *dbParams)
	// The schema comes from `evpush migrate`, so that commit_only runs with
	// no service process at all.
	if out, err := serviceCmd(bin, svcURL, keys, "migrate").CombinedOutput(); err != nil {
		return fmt.Errorf("evpush migrate: %v\n%s", err, out)
	}
	db, outbox, err := producer(ctx, dbURL, push)
	if err != nil {
		return err
	}
	defer db.Close()

	// commit_only: the producer alone fills a backlog; drain: the service,
	// started on it, works it off with nothing else running. It is fully
	// delivered before e2e begins.
	ph, err := commitOnly(ctx, db, outbox, push)
	if err != nil {
		return err
	}
	svc, err := startService(bin, svcURL, keys)
	if err != nil {
		return err
	}
	defer svc.stop()
	if err := drain(svc, ph); err != nil {
		return err
	}
	if err := svc.waitReady(); err != nil {
		return err
	}
	if err := e2e(ctx, db, outbox, svc, push); err != nil {
		return err
	}
	if err := steadyLoads(ctx, db, outbox, push); err != nil {
		return err
	}
	if err := apiLoad(ctx, db, svc, push); err != nil {
		return err
	}
	return finalFigures(svc, push)
}

// withParams appends extra DATABASE_URL parameters (-db-params).
func withParams(dbURL, params string) string {
	switch {
	case params == "":
		return dbURL
	case strings.Contains(dbURL, "?"):
		return dbURL + "&" + params
	default:
		return dbURL + "?" + params
	}
}

// producer opens the harness's side of the database, as a charging service
// would, seeds the subscriptions and returns the outbox it commits through.
func producer(ctx context.Context, dbURL string, push *pushservice.Server) (*sql.DB, *queue.Outbox, error) {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, nil, err
	}
	// A charging service keeps its connections: database/sql's default of 2
	// idle connections would open a PostgreSQL backend per transaction.
	db.SetMaxIdleConns(32)
	if err := seed(ctx, db, push); err != nil {
		db.Close()
		return nil, nil, err
	}
	outbox, err := queue.NewOutbox(db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, outbox, nil
}

// e2e: a burst of events, committed as fast as 8 committers can, while the
// service works them.
func e2e(ctx context.Context, db *sql.DB, outbox *queue.Outbox, svc *service, push *pushservice.Server) error {
	stopProfile := svc.profile("e2e", 8*time.Second)
	ph := newPhase(push)
	cpuUsed, err := measureCPU(svc.pid())
	if err != nil {
		return err
	}
	if err := commitEvents(ctx, db, outbox, *e2eEvents, 0, ph); err != nil {
		return err
	}
	if err := ph.wait(devices * *e2eEvents); err != nil {
		return err
	}
	used, err := cpuUsed()
	if err != nil {
		return err
	}
	stopProfile()
	rate, p50, p99 := ph.results()
	report("e2e", rate, "deliveries/s")
	report("e2e_p50_ms", p50, "ms")
	report("e2e_p99_ms", p99, "ms")
	report("e2e_pg_cpu_ms_per_event", msPer(used.pg, float64(*e2eEvents)), "ms/event")
	report("e2e_svc_cpu_ms_per_delivery", msPer(used.svc, float64(*e2eEvents)*devices), "ms/delivery")
	return nil
}

// steadyLoads: a paced load, the target's 500 events/s, then a lighter one.
func steadyLoads(ctx context.Context, db *sql.DB, outbox *queue.Outbox, push *pushservice.Server) error {
	for _, load := range []struct {
		name string
		rate int
		dur  time.Duration
	}{{"steady", *steadyRate, *steadyFor}, {"steady_light", *lightRate, *lightFor}} {
		ph := newPhase(push)
		n, err := steady(ctx, db, outbox, ph, load.rate, load.dur)
		if err != nil {
			return err
		}
		if err := ph.wait(devices * n); err != nil {
			return err
		}
		_, p50, p99 := ph.results()
		report(load.name+"_p50_ms", p50, "ms")
		report(load.name+"_p99_ms", p99, "ms")
	}
	return nil
}

// finalFigures reports the peak memory and the ratios, and fails the run if
// the push service saw a request it could not verify.
func finalFigures(svc *service, push *pushservice.Server) error {
	rss, err := svc.peakRSS()
	if err != nil {
		return err
	}
	report("rss_mb", rss, "MB")
	if par := value("baseline_par"); par > 0 {
		report("ratio_e2e_vs_baseline_par", value("e2e")/par, "ratio")
		report("ratio_drain_vs_baseline_par", value("drain")/par, "ratio")
	}
	if errs := push.Errors(); len(errs) > 0 {
		return fmt.Errorf("push service saw %d bad requests, first: %s", len(errs), errs[0])
	}
	return nil
}

func value(name string) float64 {
	for _, f := range figures {
		if f.name == name {
			return f.value
		}
	}
	return 0
}

// baselines: webpush-go alone, as most projects send: first one request after
// another with the library's defaults, then a tuned shared client and enough
// goroutines to use every core.
func baselines(push *pushservice.Server, keys domain.VAPIDKeys) error {
	devs := make([]*pushservice.Device, 64)
	for i := range devs {
		devs[i] = push.NewDevice()
	}
	payload, err := webpush.Payload(messages.Default().Event(domain.ChargingEvent{
		Kind: domain.EventChargingStarted, SessionID: "baseline", StationID: "st-1", ConnectorID: 1, DriverID: "d",
	}, domain.UserTypeClient, "ru"))
	if err != nil {
		return err
	}
	send := func(client webpushgo.HTTPClient, d *pushservice.Device) error {
		resp, err := webpushgo.SendNotification(bytes.Clone(payload), &webpushgo.Subscription{
			Endpoint: d.Endpoint, Keys: webpushgo.Keys{P256dh: d.P256dh, Auth: d.Auth},
		}, &webpushgo.Options{
			HTTPClient: client, Subscriber: "ops@evpower.kg", TTL: 3600,
			VAPIDPublicKey: keys.PublicKey, VAPIDPrivateKey: keys.PrivateKey, Urgency: webpushgo.UrgencyHigh,
		})
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("baseline: push service answered %d", resp.StatusCode)
		}
		return nil
	}

	start := time.Now()
	for i := range *seqSends {
		if err := send(nil, devs[i%len(devs)]); err != nil {
			return err
		}
	}
	report("baseline_seq", float64(*seqSends)/time.Since(start).Seconds(), "deliveries/s")

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = *parWorkers
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start = time.Now()
	for range *parWorkers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(*parSends) {
					return
				}
				if err := send(client, devs[i%int64(len(devs))]); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	report("baseline_par", float64(*parSends)/time.Since(start).Seconds(), "deliveries/s")
	return nil
}

func build() (string, error) {
	dir, err := os.MkdirTemp("", "evpush-bench")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "evpush")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/evpower/evpush/cmd/evpush").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// freshDatabase (re)creates a database for the run and returns its URL.
func freshDatabase(ctx context.Context, name string) (string, func(), error) {
	admin, err := sql.Open("pgx", *adminURL)
	if err != nil {
		return "", nil, err
	}
	for _, q := range []string{
		fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name),
		fmt.Sprintf(`CREATE DATABASE %q`, name),
	} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			admin.Close()
			return "", nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	u, err := url.Parse(*adminURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		if *keepDB {
			admin.Close()
			return
		}
		_, _ = admin.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name))
		admin.Close()
	}, nil
}

type service struct {
	cmd       *exec.Cmd
	url       string
	pprofAddr string
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serviceCmd is an evpush command with the harness's configuration.
func serviceCmd(bin, dbURL string, keys domain.VAPIDKeys, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbURL, "JWT_SECRET="+jwtSecret,
		"VAPID_PUBLIC_KEY="+keys.PublicKey, "VAPID_PRIVATE_KEY="+keys.PrivateKey,
		"PUSH_ALLOW_LOOPBACK=true", "LOG_LEVEL=warn",
		// The harness seeds a station and drives the durable path through
		// the reference charging module's tables.
		"REFERENCE_CHARGING=true",
		// Each API client plays many users (below), so per-user limits are
		// never the bottleneck; they stay on, as in production.
	)
	return cmd
}

// startService starts `evpush serve` and returns at once: its workers may
// be delivering before it answers /readyz (see waitReady).
func startService(bin, dbURL string, keys domain.VAPIDKeys) (*service, error) {
	addr := freeAddr()
	s := &service{url: "http://" + addr, pprofAddr: freeAddr()}
	s.cmd = serviceCmd(bin, dbURL, keys, "serve")
	s.cmd.Env = append(s.cmd.Env, "HTTP_ADDR="+addr, "PPROF_ADDR="+s.pprofAddr)
	if *workers > 0 {
		s.cmd.Env = append(s.cmd.Env, "WORKERS="+strconv.Itoa(*workers))
	}
	if *keepOutput {
		s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// waitReady waits until the service answers /readyz.
func (s *service) waitReady() error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("the service did not become ready within 60s")
}

func (s *service) pid() int { return s.cmd.Process.Pid }

func (s *service) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

// profile starts a CPU profile of the service; the returned func saves it.
func (s *service) profile(name string, d time.Duration) func() {
	if *profileDir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get("http://" + s.pprofAddr + "/debug/pprof/profile?seconds=" + strconv.Itoa(max(int(d.Seconds()), 1)))
		if err != nil {
			log.Printf("profile: %v", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(*profileDir, name+".pprof"))
		if err != nil {
			log.Printf("profile: %v", err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
	return func() { <-done }
}

// peakRSS reads the service's high-water resident set (VmHWM).
func (s *service) peakRSS() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// seed subscribes two devices for each driver, straight into the table.
func seed(ctx context.Context, db *sql.DB, push *pushservice.Server) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO stations (id, owner_id, price_per_kwh) VALUES ('st-1', 'owner-1', 10)`); err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO push_subscriptions (user_id, user_type, endpoint, p256dh, auth) VALUES ($1, 'client', $2, $3, $4)`)
	if err != nil {
		return err
	}
	for i := range *drivers {
		for range devices {
			d := push.NewDevice()
			if _, err := stmt.ExecContext(ctx, driverID(i), d.Endpoint, d.P256dh, d.Auth); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

func driverID(i int) string { return "driver-" + strconv.Itoa(i%*drivers) }

// phase tracks the events committed in one part of the run.
type phase struct {
	base      int // session numbers of this phase start here
	push      *pushservice.Server
	countFrom int
	mu        sync.Mutex
	committed map[string]time.Time // by the session's Topic
}

var phaseSeq int

func newPhase(push *pushservice.Server) *phase {
	phaseSeq++
	return &phase{base: phaseSeq * 10_000_000, push: push, countFrom: len(push.All()), committed: map[string]time.Time{}}
}

func (p *phase) commit(session string, at time.Time) {
	p.mu.Lock()
	p.committed[domain.SessionTopic(session)] = at
	p.mu.Unlock()
}

// wait until n more messages arrived (every delivery of the phase).
func (p *phase) wait(n int) error { return p.waitFor(n, 3*time.Minute, 20*time.Millisecond) }

// waitFor waits until n more messages arrived, looking every poll.
func (p *phase) waitFor(n int, timeout, poll time.Duration) error {
	deadline := time.Now().Add(timeout)
	for p.push.Count() < p.countFrom+n {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d deliveries arrived", p.push.Count()-p.countFrom, n)
		}
		time.Sleep(poll)
	}
	return nil
}

// results: deliveries/s from the first commit to the last delivery, and the
// commit-to-delivery latency percentiles.
func (p *phase) results() (rate, p50ms, p99ms float64) {
	msgs := p.push.All()[p.countFrom:]
	first := time.Time{}
	for _, t := range p.committed {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	var last time.Time
	lat := make([]time.Duration, 0, len(msgs))
	for _, m := range msgs {
		c, ok := p.committed[m.Topic]
		if !ok {
			continue
		}
		lat = append(lat, m.Received.Sub(c))
		if m.Received.After(last) {
			last = m.Received
		}
	}
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond) }
	return float64(len(lat)) / last.Sub(first).Seconds(), pct(0.50), pct(0.99)
}

// deliveryRate: deliveries/s from the phase's first delivery to its last.
func (p *phase) deliveryRate() float64 {
	msgs := p.push.All()[p.countFrom:]
	first, last := msgs[0].Received, msgs[0].Received
	for _, m := range msgs[1:] {
		if m.Received.Before(first) {
			first = m.Received
		}
		if m.Received.After(last) {
			last = m.Received
		}
	}
	return float64(len(msgs)-1) / last.Sub(first).Seconds()
}

// commitOnly commits the backlog from commitBatch committers while no
// service runs: the producer's transaction on its own, in events/s and in
// CPU per event (PostgreSQL's and the committing process's). The returned
// phase holds the backlog, for drain.
func commitOnly(ctx context.Context, db *sql.DB, outbox *queue.Outbox, push *pushservice.Server) (*phase, error) {
	ph := newPhase(push)
	cpuUsed, err := measureCPU(0)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := commitEvents(ctx, db, outbox, *backlog, ph.base, ph); err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	used, err := cpuUsed()
	if err != nil {
		return nil, err
	}
	if n := push.Count() - ph.countFrom; n > 0 {
		return nil, fmt.Errorf("commit_only: %d deliveries while no worker runs", n)
	}
	report("commit_only", float64(*backlog)/elapsed.Seconds(), "events/s")
	report("commit_only_cpu_ms", msPer(used.pg+used.client, float64(*backlog)), "ms/event")
	report("commit_only_pg_cpu_ms", msPer(used.pg, float64(*backlog)), "ms/event")
	report("commit_only_client_cpu_ms", msPer(used.client, float64(*backlog)), "ms/event")
	return ph, nil
}

// drain measures svc, just started, working off the commit_only backlog
// with nothing else running: from its first delivery (process start-up is
// not delivery) to the last, CPU counted over the same span.
func drain(svc *service, ph *phase) error {
	if err := ph.waitFor(1, time.Minute, time.Millisecond); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	cpuUsed, err := measureCPU(svc.pid())
	if err != nil {
		return err
	}
	stopProfile := svc.profile("drain", 3*time.Second)
	from := ph.push.Count()
	if err := ph.wait(devices * *backlog); err != nil {
		return err
	}
	stopProfile()
	used, err := cpuUsed()
	if err != nil {
		return err
	}
	n := float64(ph.push.Count() - from) // the deliveries the CPU figures cover
	report("drain", ph.deliveryRate(), "deliveries/s")
	report("drain_pg_cpu_ms_per_event", msPer(used.pg, n/devices), "ms/event")
	report("drain_svc_cpu_ms_per_delivery", msPer(used.svc, n), "ms/delivery")
	return nil
}

// commitEvents commits n charging events, each in its own transaction,
// from commitBatch goroutines.
func commitEvents(ctx context.Context, db *sql.DB, outbox *queue.Outbox, n, offset int, p *phase) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, commitBatch)
	for range commitBatch {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := commitOne(ctx, db, outbox, offset+i, p); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func commitOne(ctx context.Context, db *sql.DB, outbox *queue.Outbox, i int, p *phase) error {
	session := "bench-" + strconv.Itoa(i)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := outbox.ChargingStarted(ctx, tx, queue.ChargingStarted{
		SessionID: session, StationID: "st-1", ConnectorID: 1, UserID: driverID(i), OwnerID: "owner-without-devices",
	}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	p.commit(session, time.Now())
	return nil
}

// steady commits steadyRate events per second for steadyFor, in ticks of
// 10 ms; committers run in parallel so one slow commit does not stall the pace.
func steady(ctx context.Context, db *sql.DB, outbox *queue.Outbox, p *phase, rate int, dur time.Duration) (int, error) {
	const tick = 10 * time.Millisecond
	perTick := max(rate*int(tick)/int(time.Second), 1)
	total := int(dur/tick) * perTick
	jobs := make(chan int, total)
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				if err := commitOne(ctx, db, outbox, p.base+i, p); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		})
	}
	t := time.NewTicker(tick)
	sent := 0
	for sent < total {
		<-t.C
		for range perTick {
			jobs <- sent
			sent++
		}
	}
	t.Stop()
	close(jobs)
	wg.Wait()
	close(errc)
	return total, <-errc
}

// apiLoad runs apiClients clients posting new subscriptions for apiFor, and
// reports the CPU per request of PostgreSQL, the service and this harness;
// with -profile, a CPU profile of the service over the phase and the
// database transactions per request.
func apiLoad(ctx context.Context, db *sql.DB, svc *service, push *pushservice.Server) error {
	// Many users with a device or two each, as in production: 20,000 users,
	// one token each, taken round-robin. Minted before the clock starts.
	tokens := make([]string, 20000)
	for i := range tokens {
		tok, err := auth.Mint([]byte(jwtSecret), auth.Shape{}, "api-user-"+strconv.Itoa(i), domain.UserTypeClient, time.Hour, time.Now())
		if err != nil {
			return err
		}
		tokens[i] = tok
	}
	xacts0, err := xactCount(ctx, db)
	if err != nil {
		return err
	}
	cpuUsed, err := measureCPU(svc.pid())
	if err != nil {
		return err
	}
	stopProfile := svc.profile("api", *apiFor)
	start := time.Now()
	lat, failures := subscribeFor(svc.url, push, tokens, *apiFor)
	elapsed := time.Since(start)
	used, err := cpuUsed()
	if err != nil {
		return err
	}
	stopProfile()
	if failures > 0 {
		return fmt.Errorf("api: %d of %d requests failed", failures, len(lat))
	}
	slices.Sort(lat)
	n := float64(len(lat))
	report("api_subscribe", n/elapsed.Seconds(), "req/s")
	report("api_subscribe_p99_ms", float64(lat[int(0.99*float64(len(lat)-1))])/float64(time.Millisecond), "ms")
	// In µs: a request costs a fraction of a millisecond.
	report("api_pg_cpu_us_per_req", 1000*msPer(used.pg, n), "us/req")
	report("api_svc_cpu_us_per_req", 1000*msPer(used.svc, n), "us/req")
	report("api_client_cpu_us_per_req", 1000*msPer(used.client, n), "us/req")
	if *profileDir != "" {
		// Backends flush their statistics at most once a second, and an
		// idle one within 10 s: wait for the last of them.
		time.Sleep(11 * time.Second)
		xacts, err := xactCount(ctx, db)
		if err != nil {
			return err
		}
		report("api_xacts_per_req", float64(xacts-xacts0)/n, "xacts/req")
	}
	return nil
}

// subscribeFor runs apiClients clients posting new subscriptions, each with
// the next token, until d has passed; it returns every answered request's
// latency and how many failed.
func subscribeFor(base string, push *pushservice.Server, tokens []string, d time.Duration) ([]time.Duration, int64) {
	keys := make([]*pushservice.Device, 100)
	for i := range keys {
		keys[i] = push.NewDevice()
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = *apiClients
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		mu       sync.Mutex
		lat      []time.Duration
		failures atomic.Int64
		seq      atomic.Int64
		wg       sync.WaitGroup
	)
	stop := time.Now().Add(d)
	for range *apiClients {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(stop) {
				n := seq.Add(1)
				dev := keys[n%int64(len(keys))]
				body, _ := json.Marshal(map[string]any{
					"subscription": map[string]any{
						"endpoint": push.URL + "/push/api-" + strconv.FormatInt(n, 10),
						"keys":     map[string]string{"p256dh": dev.P256dh, "auth": dev.Auth},
					},
					"user_type": "client",
				})
				req, _ := http.NewRequest("POST", base+"/api/v1/notifications/subscribe", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tokens[n%int64(len(tokens))])
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return lat, failures.Load()
}

// xactCount is the run database's committed and rolled back transactions.
func xactCount(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	return n, err
}
