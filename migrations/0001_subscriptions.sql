-- Push subscriptions and the service's VAPID key pair.

-- +goose Up
CREATE TABLE push_subscriptions (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         text        NOT NULL,
    user_type       text        NOT NULL CHECK (user_type IN ('client', 'owner')),
    -- One row per device: a re-subscribe on a known endpoint updates it in place.
    endpoint        text        NOT NULL UNIQUE CHECK (length(endpoint) <= 2048),
    p256dh          text        NOT NULL,
    auth            text        NOT NULL,
    locale          text        NOT NULL DEFAULT '',
    user_agent      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_success_at timestamptz,
    failure_count   integer     NOT NULL DEFAULT 0
);

-- Fan-out looks up a user's devices in one role.
CREATE INDEX push_subscriptions_user_idx ON push_subscriptions (user_id, user_type);

-- Exactly one key pair (id is always 1): the first instance to start inserts
-- it, every other one reads it, so browsers never see the key change.
CREATE TABLE vapid_keys (
    id          smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    public_key  text        NOT NULL,
    private_key text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE vapid_keys;
DROP TABLE push_subscriptions;
