-- Alert routing (services/alerting): channels, routes, the delivery queue and log, and each
-- account manager's own delivery.

-- Where alerts go. `target` is a URL (Slack, Teams, webhook, Alertmanager) or the recipients'
-- addresses (e-mail, comma-separated); URLs and smtp_url are credentials, never shown again.
CREATE TABLE alert_channels (
    channel_id      text PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    kind            text NOT NULL
                    CHECK (kind IN ('email', 'slack', 'teams', 'alertmanager', 'webhook')),
    target          text NOT NULL,
    smtp_url        text,                      -- e-mail: its own server; NULL: LEDGER_SMTP_URL
    signing_secret  text,                      -- webhook: signs each delivery (HMAC-SHA256)
    resend_s        int NOT NULL DEFAULT 60,   -- Alertmanager: an unresolved alert sent again
    owner           text,                      -- an account manager's own address: their id
    created_at      timestamptz NOT NULL DEFAULT now(),
    active          boolean NOT NULL DEFAULT true
);

-- Which alerts go to which channel. A route reads the contracts of the read model it was made
-- for (projection_schema) and carries only the alerts of that deployment's events topic.
-- cursor_seq: the last alert (by arrival order) looked at; empty arrays match anything.
CREATE TABLE alert_routes (
    route_id            text PRIMARY KEY,
    name                text NOT NULL UNIQUE,
    channel_id          text NOT NULL REFERENCES alert_channels,
    projection_schema   text NOT NULL,
    rules               text[] NOT NULL DEFAULT '{}',
    severities          text[] NOT NULL DEFAULT '{}',
    bases               text[] NOT NULL DEFAULT '{}',
    client_ids          text[] NOT NULL DEFAULT '{}',
    account_manager_ids text[] NOT NULL DEFAULT '{}',
    repeat_interval_s   int CHECK (repeat_interval_s > 0),
    quiet_start         time,
    quiet_end           time,
    quiet_timezone      text NOT NULL DEFAULT 'UTC',
    digest_at           time,
    timezone            text NOT NULL DEFAULT 'UTC',
    owner               text,          -- an account manager's own route: their id
    cursor_seq          bigint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    active              boolean NOT NULL DEFAULT true
);
CREATE INDEX alert_routes_by_schema ON alert_routes (projection_schema) WHERE active;

-- Every delivery: the queue (pending, failing) and the log (delivered, dropped) in one.
-- A route delivers in delivery_id order; a failing head waits (with backoff) and holds the
-- rest of its route, never another route.
CREATE TABLE alert_deliveries (
    delivery_id  bigserial PRIMARY KEY,
    route_id     text NOT NULL REFERENCES alert_routes,
    alert_id     text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('raised', 'repeat', 'refresh', 'resolved')),
    due_at       timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'failing', 'delivered', 'dropped')),
    tries        int NOT NULL DEFAULT 0,
    next_try_at  timestamptz,
    last_error   text,                  -- cleaned of the channel's credentials
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_try_at  timestamptz,
    delivered_at timestamptz
);
CREATE INDEX alert_deliveries_queue ON alert_deliveries (route_id, delivery_id)
    WHERE status IN ('pending', 'failing');
CREATE INDEX alert_deliveries_log ON alert_deliveries (route_id, delivery_id DESC);

-- Per route, each alert it carried: when a delivery of it was last queued (repeats,
-- Alertmanager's re-sends), and whether nothing more is due (acknowledged, resolved).
CREATE TABLE alert_route_alerts (
    route_id       text NOT NULL REFERENCES alert_routes,
    alert_id       text NOT NULL,
    last_queued_at timestamptz NOT NULL,
    ended          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (route_id, alert_id)
);
CREATE INDEX alert_route_alerts_open ON alert_route_alerts (route_id) WHERE NOT ended;

-- An account manager's own alerts (their contracts'): their address and how they want them.
-- Until people come from sign-in, an admin (or the YAML file) records the address.
CREATE TABLE alert_recipients (
    account_manager_id text PRIMARY KEY,
    email              text,
    delivery           text NOT NULL DEFAULT 'email'
                       CHECK (delivery IN ('email', 'digest', 'none')),
    digest_at          time NOT NULL DEFAULT '08:00',
    timezone           text NOT NULL DEFAULT 'UTC',
    updated_at         timestamptz NOT NULL DEFAULT now()
);
