-- Account security: whether an account's email was verified (single sign-on links only to a
-- verified email), API key scopes, when a login last proved who its user is (sensitive actions
-- need a recent proof), and per-account backoff after failed logins.
-- +goose Up
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
-- Emails that came from, or were linked by, a provider's verified email claim. A local
-- registration's email was never verified (there is no mail flow) and stays NULL.
UPDATE users SET email_verified_at = created_at WHERE email IS NOT NULL AND oidc_subject IS NOT NULL;

-- Keys made before scopes existed get the default scopes, not admin.
ALTER TABLE api_keys ADD COLUMN scopes text[] NOT NULL DEFAULT '{chat,documents,read}'
    CONSTRAINT api_keys_scopes_known CHECK (cardinality(scopes) > 0 AND scopes <@ '{chat,documents,read,admin}'::text[]);

-- When the user of this login last proved who they are (password, single sign-on or
-- reauthentication); carried over on rotation. NULL (logins older than this column) is never fresh.
ALTER TABLE refresh_tokens ADD COLUMN auth_time timestamptz;

-- Failed logins per submitted username, known or not, shared by every API process.
CREATE TABLE login_failures (
    username       citext PRIMARY KEY,
    failures       integer NOT NULL,
    locked_until   timestamptz,
    last_failed_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE login_failures;
ALTER TABLE refresh_tokens DROP COLUMN auth_time;
ALTER TABLE api_keys DROP COLUMN scopes;
ALTER TABLE users DROP COLUMN email_verified_at;
