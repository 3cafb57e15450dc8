-- Once created the charging service's tables (stations, charging_sessions).
-- They now belong to the reference charging module (reference/, applied
-- only with REFERENCE_CHARGING=true): in production the charging service
-- owns them and evpush must neither create nor drop them. The number stays
-- taken so databases migrated before keep a consistent history; nothing is
-- done either way, so rolling back no longer drops anyone's tables.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
