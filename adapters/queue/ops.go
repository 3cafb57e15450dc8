package queue

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/riverqueue/river"
	"riverqueue.com/riverui"
)

// UI returns River UI, mounted under prefix (e.g. "/riverui"). The caller
// puts it behind credentials and cross-origin protection: riverui has
// neither. Job args are hidden in the list by default; they hold ids only,
// never endpoints or keys, but an operator should not need to see them.
// start must run (with a context that lives as long as the server) before
// the UI answers.
func (q *Queue) UI(prefix string, log *slog.Logger) (h http.Handler, start func(ctx context.Context) error, err error) {
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints:                riverui.NewEndpoints(q.client, nil),
		Logger:                   log,
		Prefix:                   prefix,
		JobListHideArgsByDefault: true,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("error creating River UI: %w", err)
	}
	return ui, ui.Start, nil
}

// JobsByState counts River jobs per state in db (queue depth, for
// metrics). It needs the database alone, so the metrics, and the app that
// reports to them, exist before the workers that call the app.
func JobsByState(db *sql.DB) func(context.Context) (map[string]int, error) {
	return func(ctx context.Context) (map[string]int, error) {
		rows, err := db.QueryContext(ctx, `SELECT state::text, count(*) FROM river_job GROUP BY state`)
		if err != nil {
			return nil, fmt.Errorf("error counting jobs: %w", err)
		}
		defer rows.Close()
		counts := map[string]int{}
		for rows.Next() {
			var state string
			var n int
			if err := rows.Scan(&state, &n); err != nil {
				return nil, err
			}
			counts[state] = n
		}
		return counts, rows.Err()
	}
}

// Running reports whether this process's workers are working jobs.
func (q *Queue) Running() bool {
	select {
	case <-q.client.Stopped():
		return false
	default:
		return q.started.Load()
	}
}

// Cleanup is the periodic job that removes subscriptions which have failed
// permanently (see app.Service.CleanupSubscriptions). Kind
// "subscription_cleanup"; River's leader enqueues it every CleanupInterval.
type Cleanup struct{}

// Kind implements river.JobArgs.
func (Cleanup) Kind() string { return "subscription_cleanup" }

// InsertOpts: one pending cleanup at a time is enough.
func (Cleanup) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueEvents, UniqueOpts: river.UniqueOpts{ByPeriod: CleanupInterval}}
}

// CleanupInterval is how often stale subscriptions are looked for.
const CleanupInterval = time.Hour

type cleanupWorker struct {
	river.WorkerDefaults[Cleanup]
	q *Queue
}

func (w *cleanupWorker) Work(ctx context.Context, job *river.Job[Cleanup]) error {
	n, err := w.q.app.CleanupSubscriptions(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		w.q.log.Info("removed subscriptions that kept failing", "job_id", job.ID, "job_kind", job.Kind, "removed", n)
	}
	return nil
}
