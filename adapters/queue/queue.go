package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
)

// UseCases is what the workers need from the app layer.
type UseCases interface {
	// SendEvent sends an event to all its recipients and decides, per
	// device, what comes next.
	SendEvent(ctx context.Context, ev domain.ChargingEvent) ([]app.Sent, error)
	// Deliver sends the event's notification to one subscription (a retry).
	Deliver(ctx context.Context, subscriptionID string, to domain.Recipient, ev domain.ChargingEvent) (domain.PushResult, error)
	// SendMessage sends a user message to all the user's devices in its
	// role and decides, per device, what comes next.
	SendMessage(ctx context.Context, m domain.UserMessage) ([]app.Sent, error)
	// DeliverMessage sends a user message to one subscription (a retry).
	DeliverMessage(ctx context.Context, subscriptionID string, to domain.Recipient, m domain.UserMessage) (domain.PushResult, error)
	// CleanupSubscriptions removes subscriptions that failed permanently.
	CleanupSubscriptions(ctx context.Context) (int, error)
}

// Config configures the River client.
type Config struct {
	Pool *pgxpool.Pool // LISTEN/NOTIFY: jobs are picked up within milliseconds of commit
	App  UseCases
	// Book writes an event's bookkeeping in the transaction completing it.
	Book Bookkeeper
	// Workers is how many event jobs, and how many retry jobs, run at once
	// in this process (the app bounds the pushes of all event jobs by the
	// same number). An event job holds its slot for its pushes' round
	// trips, so a process serves about Workers / push round trip events a
	// second: 100 / 0.2 s = 500 events/s.
	Workers int
	// JobTimeout bounds one job: a delivery is a push request plus
	// bookkeeping, a fan-out a query and an insert.
	JobTimeout time.Duration
	// RescueAfter is when a job left running by a dead process is retried.
	RescueAfter time.Duration
	// MaxAttempts bounds a delivery's tries (first one included); 0 means
	// DeliveryMaxAttempts.
	MaxAttempts int
	// RetryBase is the first retry's delay; each next one doubles, up to an
	// hour. 0 means DefaultRetryBase.
	RetryBase time.Duration
	// CompletedRetention is how long River keeps a completed job; event
	// jobs are unique (a duplicate is not inserted) for as long. 0 means
	// DefaultCompletedRetention.
	CompletedRetention time.Duration
	// StopTimeout is how long Stop waits for running jobs before cancelling
	// them (River retries them later).
	StopTimeout time.Duration
	Logger      *slog.Logger
}

// Defaults.
const (
	DefaultWorkers     = 100
	DefaultRescueAfter = time.Minute
	// DefaultCompletedRetention: a charging service retrying its commit
	// within a day is caught as a duplicate.
	DefaultCompletedRetention = 24 * time.Hour
	// fetchCooldown: River's 100ms default caps a queue near MaxWorkers×10
	// jobs/s; LISTEN/NOTIFY wakes fetchers, the cooldown only bounds polling.
	fetchCooldown      = 10 * time.Millisecond
	fetchPollInterval  = time.Second
	defaultStopTimeout = 20 * time.Second
	maxSnoozes         = 20
	defaultSnooze      = 30 * time.Second
	maxSnooze          = time.Hour
)

// Queue is the River client that works fan-out and delivery jobs; events
// are inserted through an Outbox, which needs no workers.
type Queue struct {
	client  *river.Client[pgx.Tx]
	pool    *pgxpool.Pool
	app     UseCases
	book    Bookkeeper
	log     *slog.Logger
	started atomic.Bool

	maxAttempts  int
	retry        backoff
	eventTimeout time.Duration
}

// WithDefaults returns c with every unset setting at its default: the one
// place the queue's defaults are applied (New applies it; evpush's
// configuration starts from it).
func (c Config) WithDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = DefaultRescueAfter
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = defaultStopTimeout
	}
	c.MaxAttempts = cmp.Or(c.MaxAttempts, DeliveryMaxAttempts)
	c.RetryBase = cmp.Or(c.RetryBase, DefaultRetryBase)
	c.CompletedRetention = cmp.Or(c.CompletedRetention, DefaultCompletedRetention)
	return c
}

// New builds the client; Start makes it work jobs.
func New(cfg Config) (*Queue, error) {
	if cfg.Book == nil {
		return nil, errors.New("queue: Config.Book is required")
	}
	cfg = cfg.WithDefaults()
	q := &Queue{app: cfg.App, book: cfg.Book, log: cfg.Logger, pool: cfg.Pool,
		maxAttempts: cfg.MaxAttempts,
		retry:       backoff{base: cfg.RetryBase},
		// An event job sends to all its devices, some waiting for a
		// process-wide slot, then stores the outcome: more than one push.
		eventTimeout: 3 * cfg.JobTimeout}
	workers := river.NewWorkers()
	river.AddWorker(workers, &startedWorker{q: q})
	river.AddWorker(workers, &completedWorker{q: q})
	river.AddWorker(workers, &userNotificationWorker{q: q})
	river.AddWorker(workers, &messageDeliveryWorker{q: q})
	river.AddWorker(workers, &deliveryWorker{q: q})
	river.AddWorker(workers, &cleanupWorker{q: q})

	// Jobs are worked through River's main driver, pgx (batched fetches and
	// completions, LISTEN/NOTIFY); inserts inside a caller's database/sql or
	// gorm transaction go through an Outbox's database/sql client. Both share
	// the one pgx pool.
	client, err := river.NewClient(riverpgxv5.New(cfg.Pool), &river.Config{
		ID: clientID(),
		Queues: map[string]river.QueueConfig{
			QueueEvents:     {MaxWorkers: cfg.Workers, FetchCooldown: fetchCooldown, FetchPollInterval: fetchPollInterval},
			QueueDeliveries: {MaxWorkers: cfg.Workers, FetchCooldown: fetchCooldown, FetchPollInterval: fetchPollInterval},
		},
		Workers: workers,
		// Never take another service's jobs from a shared database.
		FetchOnlyKnownKinds: true,
		// The client-wide cooldown also rate-limits the NOTIFY sent on
		// insert (one per queue per cooldown): at River's 100ms default,
		// events inserted close together wait for the next poll.
		FetchCooldown:        fetchCooldown,
		RetryPolicy:          q.retry,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		// Leave part of the shutdown budget for cancelling what still runs:
		// HTTP drains first, from the same budget.
		SoftStopTimeout: cfg.StopTimeout * 4 / 5,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(CleanupInterval),
			func() (river.JobArgs, *river.InsertOpts) { return Cleanup{}, nil },
			&river.PeriodicJobOpts{ID: "subscription_cleanup", RunOnStart: true})},
		// Retention keeps river_job bounded. Completed jobs must outlive any
		// duplicate of their event, since uniqueness looks at them.
		CompletedJobRetentionPeriod: cfg.CompletedRetention,
		CancelledJobRetentionPeriod: 7 * 24 * time.Hour,
		DiscardedJobRetentionPeriod: 7 * 24 * time.Hour,
		ErrorHandler:                errorHandler{log: cfg.Logger},
		// River logs its own routine at info; keep the service's log for
		// what an operator acts on.
		Logger: slog.New(levelFloor{Handler: cfg.Logger.Handler(), min: slog.LevelWarn}),
	})
	if err != nil {
		return nil, fmt.Errorf("error creating River client: %w", err)
	}
	q.client = client
	return q, nil
}

// clientID names this process's River client. River records it in every job
// the client works (river_job.attempted_by, River UI) and elects its leader
// by it, so it must differ between processes on one database. River's
// default, the host name and the start time to the microsecond, is the same
// for replicas given one host name (containers, `hostname:` in compose) that
// start in the same microsecond; the process id and a random suffix rule that
// out. Underscores only, as River's own: a double click selects all of it.
func clientID() string {
	host, _ := os.Hostname()
	host = strings.ReplaceAll(cmp.Or(host, "unknown_host"), ".", "_")
	return fmt.Sprintf("%.60s_%d_%08x", host, os.Getpid(), rand.Uint32())
}

// ClientID is this process's River client id, as River records it in the
// jobs it works (river_job.attempted_by).
func (q *Queue) ClientID() string { return q.client.ID() }

// Start works jobs until Stop, or until ctx is cancelled.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return err
	}
	q.started.Store(true)
	return nil
}

// Stop finishes the jobs in flight (up to the soft-stop timeout, after which
// their contexts are cancelled and River retries them later) and returns. If
// ctx runs out first, running jobs are cancelled rather than abandoned, so
// none is left "running" until the rescuer finds it.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		hard, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return q.client.StopAndCancel(hard)
	}
	return err
}

type startedWorker struct {
	river.WorkerDefaults[ChargingStarted]
	q *Queue
}

func (w *startedWorker) Timeout(*river.Job[ChargingStarted]) time.Duration { return w.q.eventTimeout }

func (w *startedWorker) Work(ctx context.Context, job *river.Job[ChargingStarted]) error {
	return sendEvent(ctx, w.q, job, job.Args.event(job.CreatedAt))
}

type completedWorker struct {
	river.WorkerDefaults[ChargingCompleted]
	q *Queue
}

func (w *completedWorker) Timeout(*river.Job[ChargingCompleted]) time.Duration {
	return w.q.eventTimeout
}

func (w *completedWorker) Work(ctx context.Context, job *river.Job[ChargingCompleted]) error {
	return sendEvent(ctx, w.q, job, job.Args.event(job.CreatedAt))
}

// sendEvent sends a charging event to its devices; a device that failed
// transiently gets a push_delivery retry job, unique per event and device.
func sendEvent[T river.JobArgs](ctx context.Context, q *Queue, job *river.Job[T], ev domain.ChargingEvent) error {
	payload := payloadOf(ev)
	return workEvent(ctx, q, job, []string{"session_id"}, func(ctx context.Context) ([]app.Sent, error) {
		return q.app.SendEvent(ctx, ev)
	}, func(s app.Sent) river.JobArgs {
		return Delivery{EventKey: ev.Key(), SubscriptionID: s.Sub.ID, UserID: s.Sub.UserID, UserType: string(s.Sub.UserType), Event: payload}
	})
}

// jobContext carries a logger naming the job, for the use cases' logs.
func (q *Queue) jobContext(ctx context.Context, job *rivertype.JobRow) context.Context {
	return app.WithLogger(ctx, q.log.With("job_id", job.ID, "job_kind", job.Kind))
}

// reject cancels a job whose args are invalid (inserted by hand or by
// another service): retrying cannot help. The reason lands in the job's
// errors, which River UI shows. Other errors are returned for River to retry.
func (q *Queue) reject(job *rivertype.JobRow, err error) error {
	if !errors.Is(err, domain.ErrInvalid) {
		return err
	}
	q.log.Warn("job with invalid args cancelled", "job_id", job.ID, "job_kind", job.Kind, "error", err)
	return river.JobCancel(err)
}

type deliveryWorker struct {
	river.WorkerDefaults[Delivery]
	q *Queue
}

// Work sends one notification and turns the push service's answer into what
// River should do next.
func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[Delivery]) error {
	log := w.q.deliveryLog(job.JobRow, job.Args.SubscriptionID, job.Args.EventKey)
	to := domain.Recipient{UserID: job.Args.UserID, UserType: domain.UserType(job.Args.UserType)}
	res, err := w.q.app.Deliver(app.WithLogger(ctx, log), job.Args.SubscriptionID, to, job.Args.Event.event())
	return w.q.next(job.JobRow, log, res, err)
}

// deliveryLog is the logger of one delivery job.
func (q *Queue) deliveryLog(job *rivertype.JobRow, subscriptionID, key string) *slog.Logger {
	return q.log.With("job_id", job.ID, "job_kind", job.Kind, "attempt", job.Attempt,
		"subscription_id", subscriptionID, "event_key", key)
}

// next turns a delivery's result into what River does with its job.
func (q *Queue) next(job *rivertype.JobRow, log *slog.Logger, res domain.PushResult, err error) error {
	switch {
	case errors.Is(err, domain.ErrInvalid):
		return q.reject(job, err)
	case errors.Is(err, domain.ErrNotFound):
		log.Info("subscription removed or moved to another user before delivery; nothing to send")
		return nil
	case errors.Is(err, domain.ErrExpired):
		log.Warn("notification expired before it could be delivered")
		return river.JobCancel(err)
	case res.Outcome == 0 && err != nil:
		return err // bookkeeping failed (database): retry
	}
	switch res.Outcome {
	case domain.OutcomeDelivered:
		return nil
	case domain.OutcomeGone:
		return river.JobCancel(fmt.Errorf("subscription gone (HTTP %d); deleted", res.StatusCode))
	case domain.OutcomeRateLimited:
		if snoozes(job) >= maxSnoozes {
			return fmt.Errorf("push service rate limited this subscription %d times", maxSnoozes)
		}
		return river.JobSnooze(snoozeFor(res.RetryAfter))
	case domain.OutcomeRejected:
		log.Warn("push service rejected the message; not retrying", "status", res.StatusCode, "reason", res.Reason)
		return river.JobCancel(fmt.Errorf("rejected (HTTP %d): %s", res.StatusCode, res.Reason))
	default:
		if err == nil {
			err = errors.New(res.Reason)
		}
		return fmt.Errorf("push failed (HTTP %d): %w", res.StatusCode, err)
	}
}

// snoozeFor clamps a Retry-After: River panics on negative snoozes, and a
// push service asking for a day would park the job past its relevance.
func snoozeFor(retryAfter time.Duration) time.Duration {
	if retryAfter <= 0 {
		return defaultSnooze
	}
	return min(max(retryAfter, time.Second), maxSnooze)
}

// snoozes counts earlier snoozes, which River keeps in the job's metadata
// (they do not consume attempts, so they are capped separately).
func snoozes(job *rivertype.JobRow) int {
	var m struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(job.Metadata, &m)
	return m.Snoozes
}

// DefaultRetryBase is the first retry's delay (the event job made the
// first attempt).
const DefaultRetryBase = 5 * time.Second

// backoff is exponential with jitter: base, 2×base, 4×base, … up to an hour,
// each ±20%, so a push service's outage does not end in a synchronized
// stampede.
type backoff struct{ base time.Duration }

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	retry := len(job.Errors) + 1
	if job.Kind == KindDelivery || job.Kind == KindMessageDelivery {
		// A retry job's first error is the device's second failure: the
		// event job's push was the first (and scheduled this job after
		// delay(1)).
		retry++
	}
	return time.Now().Add(b.delay(retry))
}

// delay is the wait before the n-th retry (n ≥ 1), jittered.
func (b backoff) delay(n int) time.Duration {
	d := min(b.base<<min(n-1, 20), time.Hour)
	jitter := time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	return d + jitter
}

type errorHandler struct{ log *slog.Logger }

func (h errorHandler) HandleError(_ context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	msg := "job failed; River will retry"
	if job.Attempt >= job.MaxAttempts {
		msg = "job failed on its last attempt; River discards it"
	}
	h.log.Warn(msg, "job_id", job.ID, "job_kind", job.Kind,
		"attempt", job.Attempt, "max_attempts", job.MaxAttempts, "error", err)
	return nil
}

func (h errorHandler) HandlePanic(_ context.Context, job *rivertype.JobRow, v any, trace string) *river.ErrorHandlerResult {
	h.log.Error("job panicked", "job_id", job.ID, "job_kind", job.Kind, "panic", v, "trace", trace)
	return nil
}

// levelFloor drops records below min.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFloor{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h levelFloor) WithGroup(name string) slog.Handler {
	return levelFloor{Handler: h.Handler.WithGroup(name), min: h.min}
}
