package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
)

// finishTimeout bounds the transaction that completes an event job. It runs
// even when the job's context has ended (timeout, shutdown): the pushes have
// happened, and their retries and bookkeeping should be stored rather than
// the whole event resent.
const finishTimeout = 10 * time.Second

// after is what an event job leaves behind once its pushes are done: retry
// jobs for the devices that failed transiently and the rows to write. It is
// stored in the transaction that completes the event job.
type after struct {
	retries []river.InsertManyParams
	book    domain.Bookkeeping
	dropped int
}

func (a after) empty() bool { return len(a.retries) == 0 && a.book.Empty() }

// Bookkeeper writes what an event's pushes leave on the subscriptions'
// rows inside tx, the transaction that completes the event job (the
// persistence adapter implements it; the SQL about subscriptions lives
// there).
type Bookkeeper interface {
	BookTx(ctx context.Context, tx pgx.Tx, b domain.Bookkeeping) error
}

// plan translates the app's per-device decisions into River and rows;
// retry makes the retry job's args for a device. It decides nothing itself.
func (q *Queue) plan(job *rivertype.JobRow, sent []app.Sent, retry func(app.Sent) river.JobArgs, now time.Time) after {
	a := after{book: domain.Bookkeeping{At: now}}
	for _, s := range sent {
		switch s.Decision.Record {
		case domain.RecordSuccess:
			a.book.Succeeded = append(a.book.Succeeded, s.Sub.ID)
		case domain.RecordFailure:
			a.book.Failed = append(a.book.Failed, s.Sub.ID)
		}
		switch s.Decision.Step {
		case domain.StepGone:
			a.book.Gone = append(a.book.Gone, s.Sub)
		case domain.StepDrop:
			a.dropped++
		case domain.StepRetry:
			// The event job made the device's first attempt: its retry job
			// has what is left of the policy's attempts.
			if q.maxAttempts <= 1 {
				a.dropped++
				continue
			}
			delay := s.Decision.After
			if delay <= 0 {
				delay = q.retry.delay(1)
			}
			meta, _ := json.Marshal(retryMeta{EventJobID: job.ID, Status: s.Result.StatusCode, Error: s.Decision.Reason})
			a.retries = append(a.retries, river.InsertManyParams{Args: retry(s), InsertOpts: &river.InsertOpts{
				MaxAttempts: q.maxAttempts - 1, ScheduledAt: now.Add(delay), Metadata: meta,
			}})
		}
	}
	return a
}

// retryMeta is kept in a retry job's metadata, so River UI shows why the
// device is being retried and which event it belongs to.
type retryMeta struct {
	EventJobID int64  `json:"event_job_id"`
	Status     int    `json:"first_status,omitempty"`
	Error      string `json:"first_error,omitempty"`
}

// workEvent is an event job: send to every device through the app, then
// store what follows in the transaction that completes the job.
// identity names the args fields that make two jobs of its kind the same
// event (nil: every job is its own).
func workEvent[T river.JobArgs](ctx context.Context, q *Queue, job *river.Job[T], identity []string,
	send func(context.Context) ([]app.Sent, error), retry func(app.Sent) river.JobArgs) error {
	if dup, err := q.earlierTwin(ctx, job.JobRow, identity); err != nil {
		return err
	} else if dup {
		q.log.Info("duplicate event (an earlier job has it); nothing sent", "job_id", job.ID, "job_kind", job.Kind)
		return nil
	}
	sent, err := send(q.jobContext(ctx, job.JobRow))
	if err != nil {
		return q.reject(job.JobRow, err)
	}
	a := q.plan(job.JobRow, sent, retry, time.Now())
	q.log.Debug("event sent", "job_id", job.ID, "job_kind", job.Kind, "devices", len(sent),
		"retries", len(a.retries), "gone", len(a.book.Gone), "dropped", a.dropped)
	if a.empty() {
		return nil // nothing to store: River completes the job in its batched way
	}
	return finish(ctx, q, job, a)
}

// finish stores a's retry jobs and bookkeeping and completes the event job,
// all in one transaction: a crash before the commit leaves the event job
// running, River rescues it and the event is sent again (at-least-once); it
// can never complete with a failed device forgotten.
func finish[T river.JobArgs](ctx context.Context, q *Queue, job *river.Job[T], a after) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("error completing event: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := q.book.BookTx(ctx, tx, a.book); err != nil {
		return err
	}
	if len(a.retries) > 0 {
		res, err := q.client.InsertManyTx(ctx, tx, a.retries)
		if err != nil {
			return fmt.Errorf("error inserting retry jobs: %w", err)
		}
		for _, r := range res {
			if r.UniqueSkippedAsDuplicate {
				// The device already has a retry of this event (the event
				// was resent after a crash): that one carries on.
				q.log.Debug("retry job already exists", "job_id", job.ID, "retry_job_id", r.Job.ID)
			}
		}
	}
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return fmt.Errorf("error completing event job: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("error completing event: %w", err)
	}
	return nil
}

// earlierTwin reports whether an earlier job of the same kind carries the
// same event (the same identity fields) and was not given up on. River's
// uniqueness already refuses a duplicate inserted through its client; a job
// inserted with plain SQL has no unique key, so it is checked here, through
// River's GIN index on args, before anything is sent.
func (q *Queue) earlierTwin(ctx context.Context, job *rivertype.JobRow, identity []string) (bool, error) {
	if len(identity) == 0 || job.UniqueKey != nil {
		return false, nil
	}
	var args map[string]json.RawMessage
	if err := json.Unmarshal(job.EncodedArgs, &args); err != nil {
		return false, nil // the worker rejects malformed args itself
	}
	same := make(map[string]json.RawMessage, len(identity))
	for _, f := range identity {
		v, ok := args[f]
		if !ok || string(v) == `""` || string(v) == "null" {
			return false, nil // without its identity an event is its own
		}
		same[f] = v
	}
	probe, err := json.Marshal(same)
	if err != nil {
		return false, err
	}
	var dup bool
	err = q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM river_job
		WHERE kind = $1 AND args @> $2::jsonb AND id < $3 AND state NOT IN ('cancelled', 'discarded'))`,
		job.Kind, string(probe), job.ID).Scan(&dup)
	if err != nil {
		return false, fmt.Errorf("error looking for a duplicate event: %w", err)
	}
	return dup, nil
}
