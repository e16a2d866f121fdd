-- Single sign-on (OpenID Connect): the people who signed in, their sessions, and the sign-ins
-- under way. Every statement may run again (IF NOT EXISTS).

-- A person, as the identity provider last described them. person_id is the provider's subject
-- (or a digest of it when the subject is not a plain id); it is what `recorded_by` and a
-- contract's account_manager_id hold. role NULL: no access as of the last sign-in.
CREATE TABLE IF NOT EXISTS people (
    person_id       text PRIMARY KEY,
    issuer          text NOT NULL,
    subject         text NOT NULL,
    name            text NOT NULL,
    email           text,
    role            text CHECK (role IN ('account_manager', 'finance', 'admin')),
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer, subject)
);

-- A signed-in person's browser session: the cookie holds a random id of which only a SHA-256 is
-- kept. Honoured while neither its absolute expiry nor its idle limit (from last_seen_at) has
-- passed; ended by signing out, and by the person's next sign-in that grants another role or none.
CREATE TABLE IF NOT EXISTS person_sessions (
    session_sha256 text PRIMARY KEY,
    person_id      text NOT NULL REFERENCES people (person_id) ON DELETE CASCADE,
    role           text NOT NULL CHECK (role IN ('account_manager', 'finance', 'admin')),
    csrf_token     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS person_sessions_person ON person_sessions (person_id);

-- A sign-in under way: what the callback must find again (state, nonce, PKCE verifier, where
-- to go next), keyed by a SHA-256 of the browser's attempt cookie; used once, then deleted.
CREATE TABLE IF NOT EXISTS sign_in_attempts (
    attempt_sha256 text PRIMARY KEY,
    state          text NOT NULL,
    nonce          text NOT NULL,
    code_verifier  text NOT NULL,
    next_path      text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);

-- Token sessions get the idle limit too.
ALTER TABLE web_sessions ADD COLUMN IF NOT EXISTS last_seen_at timestamptz NOT NULL DEFAULT now();
