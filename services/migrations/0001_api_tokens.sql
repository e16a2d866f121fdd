-- Bearer tokens: only a SHA-256 of the token is kept; the token itself is shown once.
CREATE TABLE api_tokens (
    token_id           text PRIMARY KEY,
    token_sha256       text NOT NULL UNIQUE,
    role               text NOT NULL CHECK (role IN ('account_manager', 'finance', 'admin')),
    account_manager_id text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    revoked_at         timestamptz,
    CHECK ((role = 'account_manager') = (account_manager_id IS NOT NULL))
);
