-- What the API handed to the writer, and the verdict once the writer gave it: lets a
-- submission answered 202 be polled at GET /v1/submissions/{event_id}.
CREATE TABLE submissions (
    submission_id uuid PRIMARY KEY,
    event_id      uuid NOT NULL,
    contract_id   text NOT NULL,
    submitted_by  text NOT NULL,
    submitted_at  timestamptz NOT NULL DEFAULT now(),
    verdict       jsonb,
    decided_at    timestamptz
);
CREATE INDEX submissions_by_event ON submissions (event_id, submitted_at DESC);
