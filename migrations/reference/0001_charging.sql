-- The reference charging module's tables (REFERENCE_CHARGING=true only):
-- just what the demo's start/stop flow needs. IF NOT EXISTS: a database
-- migrated by evpush before the module existed already has them.

-- +goose Up
CREATE TABLE IF NOT EXISTS stations (
    id            text        PRIMARY KEY,
    owner_id      text        NOT NULL,
    name          text        NOT NULL DEFAULT '',
    price_per_kwh numeric     NOT NULL DEFAULT 0 CHECK (price_per_kwh >= 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS charging_sessions (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      text        NOT NULL,
    station_id   text        NOT NULL REFERENCES stations (id),
    connector_id integer     NOT NULL CHECK (connector_id > 0),
    status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed')),
    energy_kwh   numeric,
    amount       numeric(14, 2),
    started_at   timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);

-- One active session per connector.
CREATE UNIQUE INDEX IF NOT EXISTS charging_sessions_active_connector_idx
    ON charging_sessions (station_id, connector_id) WHERE status = 'active';
CREATE INDEX IF NOT EXISTS charging_sessions_user_idx ON charging_sessions (user_id);

-- +goose Down
DROP TABLE IF EXISTS charging_sessions;
DROP TABLE IF EXISTS stations;
