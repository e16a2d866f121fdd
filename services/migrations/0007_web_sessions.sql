-- Web app sign-in sessions. A session comes from an API token: the cookie holds a random id
-- of which only a SHA-256 is kept, and a session is honoured only while its token is live
-- (not revoked, not expired), checked on every request.
CREATE TABLE web_sessions (
    session_sha256 text PRIMARY KEY,
    token_id       text NOT NULL REFERENCES api_tokens (token_id) ON DELETE CASCADE,
    csrf_token     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX web_sessions_token ON web_sessions (token_id);
