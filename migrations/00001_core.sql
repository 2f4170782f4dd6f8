-- Core schema: accounts, groups and the audit log.
-- +goose Up
CREATE EXTENSION IF NOT EXISTS citext;

-- Keeps updated_at true for every UPDATE, whoever issues it (gorm or raw SQL).
-- +goose StatementBegin
CREATE FUNCTION yw_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      citext NOT NULL UNIQUE CHECK (length(username) BETWEEN 3 AND 64),
    email         citext UNIQUE,
    display_name  text NOT NULL DEFAULT '',
    password_hash text,                -- argon2id PHC string; NULL for SSO-only accounts
    oidc_issuer   text,
    oidc_subject  text,
    is_admin      boolean NOT NULL DEFAULT false,
    disabled_at   timestamptz,
    last_login_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_oidc_identity UNIQUE (oidc_issuer, oidc_subject)
);
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    secret_hash  bytea NOT NULL,       -- SHA-256 of the 256-bit secret; the secret itself is never stored
    last_four    text NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at DESC);
CREATE TRIGGER api_keys_touch BEFORE UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

-- Refresh tokens rotate on every use; all tokens descending from one login share a family.
-- Presenting a rotated (revoked) token revokes the whole family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    replaced_by uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    user_agent  text NOT NULL DEFAULT '',
    ip          text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
CREATE TRIGGER refresh_tokens_touch BEFORE UPDATE ON refresh_tokens FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

CREATE TABLE groups (
    id          uuid PRIMARY KEY,
    name        citext NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    description text NOT NULL DEFAULT '',
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER groups_touch BEFORE UPDATE ON groups FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

CREATE TABLE group_memberships (
    group_id   uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('admin', 'member')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
-- "Which groups is this user in" runs on every authorised request.
CREATE INDEX group_memberships_user_idx ON group_memberships (user_id, group_id, role);
CREATE TRIGGER group_memberships_touch BEFORE UPDATE ON group_memberships FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

-- Append-only: rows are never updated (updated_at exists for uniformity and stays equal to created_at).
CREATE TABLE audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id      uuid REFERENCES users (id) ON DELETE SET NULL,
    action        text NOT NULL,
    resource_type text NOT NULL DEFAULT '',
    resource_id   text NOT NULL DEFAULT '',
    group_id      uuid REFERENCES groups (id) ON DELETE SET NULL,
    outcome       text NOT NULL DEFAULT 'success' CHECK (outcome IN ('success', 'failure')),
    ip            text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT '',
    request_id    text NOT NULL DEFAULT '',
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id DESC);
CREATE INDEX audit_log_group_idx ON audit_log (group_id, id DESC) WHERE group_id IS NOT NULL;

-- +goose Down
DROP TABLE audit_log;
DROP TABLE group_memberships;
DROP TABLE groups;
DROP TABLE refresh_tokens;
DROP TABLE api_keys;
DROP TABLE users;
DROP FUNCTION yw_touch_updated_at();
