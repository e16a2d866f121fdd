-- Webhook receivers of alerts. The secret signs each delivery (HMAC-SHA256), so it is kept.
-- cursor_seq: the last alert (by arrival order) delivered to, or skipped for, this receiver.
CREATE TABLE webhooks (
    webhook_id      text PRIMARY KEY,
    url             text NOT NULL,
    secret          text NOT NULL,
    min_severity    text NOT NULL CHECK (min_severity IN ('critical', 'high', 'medium', 'low')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    active          boolean NOT NULL DEFAULT true,
    cursor_seq      bigint NOT NULL,
    delivered       bigint NOT NULL DEFAULT 0,
    attempts        int NOT NULL DEFAULT 0,      -- failed attempts at the current alert
    last_status     text,
    last_error      text,
    last_attempt_at timestamptz
);
