-- Contract-risk alerts, as raised by the risk agent. alert_id is deterministic from rule,
-- subject and trigger, so a redelivered or replayed event inserts nothing new.
CREATE TABLE alerts (
    seq              bigserial UNIQUE,          -- order of arrival: the live stream's event id
    alert_id         text PRIMARY KEY,
    rule             text NOT NULL,
    severity         text NOT NULL,
    basis            text NOT NULL,
    contract_id      text NOT NULL,
    client_name      text NOT NULL,
    assignment_id    text,
    staffer_id       text,
    exposure         numeric,
    message          text NOT NULL,
    event_ids        uuid[] NOT NULL,
    raised_at        timestamptz NOT NULL,
    stream_version   int,
    status           text NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'acknowledged', 'resolved')),
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    resolved_by      text,
    resolved_at      timestamptz,
    published_at     timestamptz              -- on the alerts topic; NULL: still to publish
);
CREATE INDEX alerts_by_contract ON alerts (contract_id, stream_version);
CREATE INDEX alerts_unpublished ON alerts (seq) WHERE published_at IS NULL;

-- The risk agent's position on an events topic, written with the alerts it raised.
CREATE TABLE risk_positions (
    events_topic text NOT NULL,
    partition    int NOT NULL,
    next_offset  bigint NOT NULL,
    PRIMARY KEY (events_topic, partition)
);

-- Per contract, the last stream version the rules have judged: lets POST /v1/events wait
-- for the alerts an event raised.
CREATE TABLE risk_progress (
    events_topic   text NOT NULL,
    contract_id    text NOT NULL,
    stream_version int NOT NULL,
    PRIMARY KEY (events_topic, contract_id)
);
