package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	pgadapter "github.com/evpower/evpush/adapters/postgres"
	"github.com/evpower/evpush/adapters/queue"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/test/pushservice"
)

const chargingAPI = "/api/v1/charging"

func TestChargingFlowNotifiesDriverAndOwner(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.station("st-1", "owner-1", "13.33")
	driver, owner := driverToken(t, "driver-1"), ownerToken(t, "owner-1")
	phone, laptop, ownerPhone := e.Push.NewDevice(), e.Push.NewDevice(), e.Push.NewDevice()
	e.subscribeIn(driver, phone, "client", "en")
	e.subscribeIn(driver, laptop, "client", "ru")
	e.subscribeIn(owner, ownerPhone, "owner", "ru")
	// Someone else's devices hear nothing.
	bystander := e.Push.NewDevice()
	e.subscribeIn(driverToken(t, "driver-2"), bystander, "client", "ru")

	r := e.call("POST", chargingAPI+"/start", driver, map[string]any{"station_id": "st-1", "connector_id": 2})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, true, r.Body["success"])
	require.Equal(t, "active", r.Body["status"])
	sessionID := r.Body["session_id"].(string)
	topic := domain.SessionTopic(sessionID)

	m := e.Push.WaitFor(t, phone, 1, waitBudget)[0]
	p := payload(t, m)
	require.Equal(t, "Charging started", p["title"])
	require.Equal(t, "Station st-1, connector 2. Follow the session in the app.", p["body"])
	require.Equal(t, "session-"+sessionID, p["tag"])
	require.Equal(t, map[string]any{
		"type": "charging_started", "url": "/sessions/" + sessionID,
		"session_id": sessionID, "station_id": "st-1", "connector_id": 2.0,
	}, p["data"])
	require.Equal(t, "high", m.Urgency)
	require.Equal(t, topic, m.Topic)
	ttl, err := strconv.Atoi(m.TTL)
	require.NoError(t, err)
	require.InDelta(t, 3600, ttl, 60, "an hour, less what has passed since the event")

	require.Equal(t, "Зарядка началась", payload(t, e.Push.WaitFor(t, laptop, 1, waitBudget)[0])["title"])
	om := e.Push.WaitFor(t, ownerPhone, 1, waitBudget)[0]
	op := payload(t, om)
	require.Equal(t, "Новая сессия на вашей станции", op["title"])
	require.Equal(t, "new_session", op["data"].(map[string]any)["type"])

	r = e.call("POST", chargingAPI+"/stop", driver, map[string]any{"session_id": sessionID, "energy_kwh": 12.5})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, map[string]any{
		"success": true, "session_id": sessionID, "station_id": "st-1", "energy_kwh": 12.5,
		"amount": 166.63, "currency": "KGS", "status": "completed", "stopped_at": r.Body["stopped_at"],
	}, r.Body)

	m = e.Push.WaitFor(t, phone, 2, waitBudget)[1]
	p = payload(t, m)
	require.Equal(t, "Charging completed", p["title"])
	require.Equal(t, "12.5 kWh delivered, amount due 166.63 KGS.", p["body"])
	require.Equal(t, "session-"+sessionID, p["tag"], "replaces the started notification on the device")
	require.Equal(t, topic, m.Topic, "replaces an undelivered started message at the push service")
	require.Equal(t, map[string]any{
		"type": "charging_completed", "url": "/sessions/" + sessionID,
		"session_id": sessionID, "energy_kwh": 12.5, "amount": 166.63, "currency": "KGS",
	}, p["data"])
	ttl, _ = strconv.Atoi(m.TTL)
	require.InDelta(t, 86400, ttl, 60)

	op = payload(t, e.Push.WaitFor(t, ownerPhone, 2, waitBudget)[1])
	require.Equal(t, "Сессия на вашей станции завершена", op["title"])
	require.Equal(t, "Станция st-1: 12,5 кВт·ч, 166,63 сом.", op["body"])
	require.Equal(t, "st-1", op["data"].(map[string]any)["station_id"])
	e.Push.WaitFor(t, laptop, 2, waitBudget)

	e.idle()
	require.Empty(t, e.Push.Messages(bystander))
	require.Empty(t, e.Push.Errors(), "every request carried valid VAPID and decrypted")
	for _, d := range []*pushservice.Device{phone, laptop, ownerPhone} {
		require.Len(t, e.Push.Messages(d), 2, "exactly once per event and device")
	}

	var status string
	var amount string
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT status, amount::text FROM charging_sessions WHERE id = $1`, sessionID).Scan(&status, &amount))
	require.Equal(t, "completed", status)
	require.Equal(t, "166.63", amount)
}

func TestChargingErrors(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.station("st-1", "owner-1", "10")
	driver, other := driverToken(t, "driver-1"), driverToken(t, "driver-2")

	r := e.call("POST", chargingAPI+"/start", driver, map[string]any{"station_id": "nope", "connector_id": 1})
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, `station "nope" not found`, r.Body["detail"])

	for _, tt := range []struct {
		body  any
		field string
	}{
		{map[string]any{"station_id": "st-1"}, "connector_id"},
		{map[string]any{"station_id": "st-1", "connector_id": 0}, "connector_id"},
		{map[string]any{"station_id": "st-1", "connector_id": "1"}, "connector_id"},
		{map[string]any{"station_id": "st-1", "connector_id": 2147483648}, "connector_id"},
		{map[string]any{"station_id": "st\u0000x", "connector_id": 1}, "body"},
		{map[string]any{"connector_id": 1}, "station_id"},
		{`{"station_id":`, "body"},
	} {
		r = e.call("POST", chargingAPI+"/start", driver, tt.body)
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, r.Raw)
		require.Equal(t, tt.field, r.Body["errors"].([]any)[0].(map[string]any)["field"])
	}

	r = e.call("POST", chargingAPI+"/start", driver, map[string]any{"station_id": "st-1", "connector_id": 1})
	require.Equal(t, http.StatusOK, r.Status)
	id := r.Body["session_id"].(string)

	r = e.call("POST", chargingAPI+"/start", other, map[string]any{"station_id": "st-1", "connector_id": 1})
	require.Equal(t, http.StatusConflict, r.Status, "connector busy")
	require.NotEmpty(t, r.Body["detail"])

	r = e.call("POST", chargingAPI+"/stop", other, map[string]any{"session_id": id, "energy_kwh": 1})
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, "only the session's driver may stop it", r.Body["detail"])

	for _, tt := range []struct {
		body   any
		status int
	}{
		{map[string]any{"session_id": id}, http.StatusUnprocessableEntity},
		{map[string]any{"session_id": id, "energy_kwh": -1}, http.StatusUnprocessableEntity},
		{map[string]any{"session_id": id, "energy_kwh": 1e9}, http.StatusUnprocessableEntity},
		{map[string]any{"energy_kwh": 1}, http.StatusUnprocessableEntity},
		{map[string]any{"session_id": "not-a-uuid", "energy_kwh": 1}, http.StatusNotFound},
		{map[string]any{"session_id": "7b0e3c4a-0000-4000-8000-000000000000", "energy_kwh": 1}, http.StatusNotFound},
	} {
		r = e.call("POST", chargingAPI+"/stop", driver, tt.body)
		require.Equal(t, tt.status, r.Status, r.Raw)
		require.NotEmpty(t, r.Body["detail"])
	}

	r = e.call("POST", chargingAPI+"/stop", driver, map[string]any{"session_id": id, "energy_kwh": 3})
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, 30.0, r.Body["amount"])
	r = e.call("POST", chargingAPI+"/stop", driver, map[string]any{"session_id": id, "energy_kwh": 3})
	require.Equal(t, http.StatusConflict, r.Status)

	r = e.call("POST", chargingAPI+"/start", "", map[string]any{"station_id": "st-1", "connector_id": 1})
	require.Equal(t, http.StatusUnauthorized, r.Status)

	// Failed operations enqueued nothing: one start and one stop event only.
	e.idle()
	var n int
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT count(*) FROM river_job WHERE kind LIKE 'charging_%'`).Scan(&n))
	require.Equal(t, 2, n)
}

func TestChargingSucceedsWhilePushServicesFail(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.station("st-1", "owner-1", "10")
	driver := driverToken(t, "driver-1")
	d := e.Push.NewDevice()
	e.Push.Respond(d, pushservice.Response{Status: http.StatusInternalServerError})
	e.subscribe(driver, d, "client")

	r := e.call("POST", chargingAPI+"/start", driver, map[string]any{"station_id": "st-1", "connector_id": 1})
	require.Equal(t, http.StatusOK, r.Status)
	r = e.call("POST", chargingAPI+"/stop", driver, map[string]any{"session_id": r.Body["session_id"], "energy_kwh": 1})
	require.Equal(t, http.StatusOK, r.Status)
	e.Push.WaitFor(t, d, 2, waitBudget) // tried, failed, will be retried
}

func TestDeliveryOutcomes(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.station("st-1", "owner-1", "10")
	driver := driverToken(t, "driver-1")
	dev := func(rs ...pushservice.Response) (*pushservice.Device, string) {
		d := e.Push.NewDevice()
		if len(rs) > 0 {
			e.Push.Respond(d, rs...)
		}
		return d, e.subscribe(driver, d, "client")
	}
	ok, okID := dev()
	_, notFoundID := dev(pushservice.Response{Status: http.StatusNotFound})
	_, goneID := dev(pushservice.Response{Status: http.StatusGone})
	limited, limitedID := dev(pushservice.Response{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "1"}},
		pushservice.Response{Status: http.StatusCreated})
	flaky, flakyID := dev(pushservice.Response{Status: http.StatusInternalServerError}, pushservice.Response{Status: http.StatusCreated})
	tooBig, tooBigID := dev(pushservice.Response{Status: http.StatusRequestEntityTooLarge, Body: `{"errno":104}`})

	r := e.call("POST", chargingAPI+"/start", driver, map[string]any{"station_id": "st-1", "connector_id": 1})
	require.Equal(t, http.StatusOK, r.Status)

	type row struct {
		exists   bool
		failures int
		success  bool
	}
	sub := func(id string) row {
		var r row
		err := e.Svc.DB.QueryRow(`SELECT failure_count, last_success_at IS NOT NULL FROM push_subscriptions WHERE id = $1`, id).
			Scan(&r.failures, &r.success)
		if err == sql.ErrNoRows {
			return r
		}
		require.NoError(t, err)
		r.exists = true
		return r
	}

	// One job for the event, which sent to every device; only the 429 and
	// the 500 left a retry job, stored as the event job completed.
	state, attempt := e.eventState("charging_started", r.Body["session_id"].(string))
	require.Equal(t, "completed", state)
	require.Equal(t, 1, attempt)
	want := []string{limitedID, flakyID}
	slices.Sort(want)
	require.Equal(t, want, e.retried(), "exactly the rate-limited and the failing device are retried")

	require.Equal(t, row{exists: true, success: true}, sub(okID))
	require.Len(t, e.Push.Messages(ok), 1)

	for _, id := range []string{notFoundID, goneID} {
		require.Equal(t, row{}, sub(id), "deleted with the event's completion")
	}

	state, attempt = e.jobState(limitedID)
	require.Equal(t, "completed", state)
	require.Equal(t, 1, attempt, "the retry's first attempt succeeds")
	msgs := e.Push.Messages(limited)
	require.Len(t, msgs, 2)
	require.GreaterOrEqual(t, msgs[1].Received.Sub(msgs[0].Received), time.Second, "Retry-After honoured")
	require.Equal(t, row{exists: true, success: true}, sub(limitedID))

	state, attempt = e.jobState(flakyID)
	require.Equal(t, "completed", state)
	require.Equal(t, 1, attempt, "retried once after the 500")
	require.Len(t, e.Push.Messages(flaky), 2)
	require.Equal(t, row{exists: true, success: true}, sub(flakyID), "success resets the failure count")

	require.Len(t, e.Push.Messages(tooBig), 1, "413 is not retried")
	require.Equal(t, row{exists: true, failures: 1}, sub(tooBigID), "kept: the device is fine, the message was not")
	e.idle()
	require.Equal(t, want, e.retried(), "no other retry appeared")
}

func TestSameEventTwiceDeliversOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.station("st-1", "owner-1", "10")
	d, o := e.Push.NewDevice(), e.Push.NewDevice()
	e.subscribe(driverToken(t, "driver-1"), d, "client")
	e.subscribe(ownerToken(t, "owner-1"), o, "owner")

	outbox, err := queue.NewOutbox(e.Svc.DB)
	require.NoError(t, err)
	ev := queue.ChargingStarted{SessionID: "s-dup", StationID: "st-1", ConnectorID: 1, UserID: "driver-1", OwnerID: "owner-1"}
	for range 2 {
		tx, err := e.Svc.DB.Begin()
		require.NoError(t, err)
		require.NoError(t, outbox.ChargingStarted(context.Background(), tx, ev))
		require.NoError(t, tx.Commit())
	}
	e.Push.WaitFor(t, d, 1, waitBudget)
	e.Push.WaitFor(t, o, 1, waitBudget)
	e.idle()
	var events int
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'charging_started'`).Scan(&events))
	require.Equal(t, 1, events, "the duplicate was not inserted: event jobs are unique by kind and session")
	require.Len(t, e.Push.Messages(d), 1)
	require.Len(t, e.Push.Messages(o), 1)
}

// TestOutboxTransactions: the job exists if and only if the caller's
// transaction commits, for a gorm transaction and a plain *sql.Tx alike.
func TestOutboxTransactions(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"WORKERS": "1"})
	e.station("st-1", "owner-1", "10")
	d := e.Push.NewDevice()
	e.subscribe(driverToken(t, "driver-1"), d, "client")
	outbox, err := queue.NewOutbox(e.Svc.DB)
	require.NoError(t, err)
	gdb, err := gorm.Open(postgres.New(postgres.Config{Conn: e.Svc.DB}), &gorm.Config{})
	require.NoError(t, err)
	ctx := context.Background()
	jobs := func(session string) int {
		var n int
		require.NoError(t, e.Svc.DB.QueryRow(`SELECT count(*) FROM river_job WHERE args->>'session_id' = $1`, session).Scan(&n))
		return n
	}
	started := func(session string) queue.ChargingStarted {
		return queue.ChargingStarted{SessionID: session, StationID: "st-1", ConnectorID: 1, UserID: "driver-1"}
	}

	// gorm, rolled back: neither the row nor the job.
	err = gdb.Transaction(func(tx *gorm.DB) error {
		require.NoError(t, tx.Exec(`INSERT INTO stations (id, owner_id) VALUES ('st-rollback', 'o')`).Error)
		sqlTx, err := pgadapter.SQLTx(tx)
		require.NoError(t, err)
		require.NoError(t, outbox.ChargingStarted(ctx, sqlTx, started("gorm-rollback")))
		return sql.ErrTxDone // any error rolls back
	})
	require.ErrorIs(t, err, sql.ErrTxDone)
	require.Zero(t, jobs("gorm-rollback"))

	// gorm, committed; the job is invisible to others until the commit.
	err = gdb.Transaction(func(tx *gorm.DB) error {
		sqlTx, err := pgadapter.SQLTx(tx)
		require.NoError(t, err)
		require.NoError(t, outbox.ChargingStarted(ctx, sqlTx, started("gorm-commit")))
		require.Zero(t, jobs("gorm-commit"), "not visible before commit")
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, jobs("gorm-commit"))

	// gorm in PrepareStmt mode wraps the transaction differently.
	prepared, err := gorm.Open(postgres.New(postgres.Config{Conn: e.Svc.DB}), &gorm.Config{PrepareStmt: true})
	require.NoError(t, err)
	require.NoError(t, prepared.Transaction(func(tx *gorm.DB) error {
		sqlTx, err := pgadapter.SQLTx(tx)
		if err != nil {
			return err
		}
		return outbox.ChargingStarted(ctx, sqlTx, started("gorm-prepared"))
	}))
	require.Equal(t, 1, jobs("gorm-prepared"))
	_, err = pgadapter.SQLTx(gdb)
	require.Error(t, err, "outside a transaction")

	// database/sql, rolled back and committed.
	tx, err := e.Svc.DB.Begin()
	require.NoError(t, err)
	require.NoError(t, outbox.ChargingCompleted(ctx, tx, queue.ChargingCompleted{SessionID: "sql-rollback", UserID: "driver-1"}))
	require.NoError(t, tx.Rollback())
	require.Zero(t, jobs("sql-rollback"))
	tx, err = e.Svc.DB.Begin()
	require.NoError(t, err)
	require.NoError(t, outbox.ChargingCompleted(ctx, tx, queue.ChargingCompleted{SessionID: "sql-commit", UserID: "driver-1", StationID: "st-1", EnergyKWh: 2, Amount: 20}))
	require.NoError(t, tx.Commit())
	require.Equal(t, 1, jobs("sql-commit"))

	// Committed events are delivered; rolled-back ones never.
	msgs := e.Push.WaitFor(t, d, 3, waitBudget)
	e.idle()
	require.Len(t, e.Push.Messages(d), 3)
	sessions := map[string]bool{}
	for _, m := range msgs {
		sessions[payload(t, m)["data"].(map[string]any)["session_id"].(string)] = true
	}
	require.Equal(t, map[string]bool{"gorm-commit": true, "gorm-prepared": true, "sql-commit": true}, sessions)
}

// TestPlainSQLInsertIsDelivered: a charging service in another language
// inserts the documented job with plain SQL (README, "Outbox job contract").
func TestPlainSQLInsertIsDelivered(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.station("st-9", "owner-9", "12")
	d, o := e.Push.NewDevice(), e.Push.NewDevice()
	e.subscribeIn(driverToken(t, "driver-9"), d, "client", "en")
	e.subscribeIn(ownerToken(t, "owner-9"), o, "owner", "en")

	args, err := json.Marshal(map[string]any{
		"session_id": "legacy-42", "station_id": "st-9", "user_id": "driver-9", "owner_id": "owner-9",
		"energy_kwh": 7.25, "amount": 87.0,
	})
	require.NoError(t, err)
	_, err = e.Svc.DB.Exec(`INSERT INTO river_job (kind, args, queue) VALUES ('charging_completed', $1, 'evpush_events')`, args)
	require.NoError(t, err)
	_, err = e.Svc.DB.Exec(`SELECT pg_notify(current_schema() || '.river_insert', '{"queue":"evpush_events"}')`)
	require.NoError(t, err)
	// Another service's job in the shared database is none of evpush's business.
	_, err = e.Svc.DB.Exec(`INSERT INTO river_job (kind, args) VALUES ('someone_elses_job', '{}')`)
	require.NoError(t, err)

	p := payload(t, e.Push.WaitFor(t, d, 1, waitBudget)[0])
	require.Equal(t, "7.25 kWh delivered, amount due 87.00 KGS.", p["body"])
	p = payload(t, e.Push.WaitFor(t, o, 1, waitBudget)[0])
	require.Equal(t, "Station st-9: 7.25 kWh, 87.00 KGS.", p["body"], "owner from owner_id")
	var foreign string
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT state FROM river_job WHERE kind = 'someone_elses_job'`).Scan(&foreign))
	require.Equal(t, "available", foreign, "left for its own workers")
}
