-- Imports started from the web app's Import page: the uploaded file, its dry run and its
-- import, with their progress, so that any API process can answer how far one is and a
-- reloaded page picks it up again.
CREATE TABLE imports (
    import_id   uuid PRIMARY KEY,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    file_name   text NOT NULL,
    format      text NOT NULL,
    mapping     text NOT NULL,
    content     bytea NOT NULL,
    stage       text NOT NULL CHECK (stage IN ('checking', 'checked', 'importing', 'imported', 'failed')),
    bytes_total bigint NOT NULL,
    bytes_read  bigint NOT NULL DEFAULT 0,
    rows_read   bigint NOT NULL DEFAULT 0,
    dry_run     jsonb,
    outcome     jsonb,
    error       text
);
