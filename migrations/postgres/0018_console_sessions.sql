-- Reviewer console sessions: an API token presented once at sign-in becomes a session named
-- by a cookie. Only the SHA-256 of the cookie's secret is kept. The CSRF token is the one
-- every form of the session must send back. A session ends at `expires_at`, at sign-out
-- (`ended_at`), or when its API token is revoked (checked on every request).
CREATE TABLE console_sessions (
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    token_id      TEXT NOT NULL REFERENCES api_tokens (id),
    csrf          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ
);
