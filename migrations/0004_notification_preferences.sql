-- Notification preferences (issue 15): what a user switched on or off in a
-- role, a notification kind ('kind', e.g. new_session) or a category of user
-- notifications ('category', e.g. marketing). Only what was set is stored:
-- a kind or category without a row is on, so a new kind starts on for
-- everyone without a migration.

-- +goose Up
CREATE TABLE notification_preferences (
    user_id    text        NOT NULL,
    user_type  text        NOT NULL CHECK (user_type IN ('client', 'owner')),
    class      text        NOT NULL CHECK (class IN ('kind', 'category')),
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    enabled    boolean     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The fan-out looks a recipient's switch up by the whole key.
    PRIMARY KEY (user_id, user_type, class, name)
);

-- +goose Down
DROP TABLE notification_preferences;
