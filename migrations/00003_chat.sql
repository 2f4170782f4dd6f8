-- Chat: sessions, durable turns, their event log (the SSE side channel), messages and tool runs.
-- +goose Up
CREATE TABLE chat_sessions (
    id            uuid PRIMARY KEY,
    owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id      uuid REFERENCES groups (id) ON DELETE SET NULL,
    title         text NOT NULL DEFAULT '' CHECK (length(title) <= 200),
    model         text NOT NULL,
    system_prompt bytea,                 -- Fernet ciphertext, like message content
    tools         text[] NOT NULL DEFAULT '{}',
    last_turn_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_sessions_owner_idx ON chat_sessions (owner_id, updated_at DESC, id);
CREATE INDEX chat_sessions_group_idx ON chat_sessions (group_id, updated_at DESC, id) WHERE group_id IS NOT NULL;
CREATE TRIGGER chat_sessions_touch BEFORE UPDATE ON chat_sessions FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

CREATE TABLE turns (
    id                uuid PRIMARY KEY,
    session_id        uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workflow_id       text NOT NULL UNIQUE,
    idempotency_key   text,
    status            text NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running', 'waiting_approval', 'completed', 'failed', 'cancelled')),
    model             text NOT NULL,
    steps             integer NOT NULL DEFAULT 0,
    prompt_tokens     integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    error_code        text NOT NULL DEFAULT '',
    error_message     text NOT NULL DEFAULT '',
    event_seq         bigint NOT NULL DEFAULT 0,  -- last turn_events.seq; its row lock orders event writers
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX turns_session_idx ON turns (session_id, created_at DESC);
CREATE INDEX turns_user_idx ON turns (user_id, created_at DESC);
-- At most one unfinished turn per session: the second concurrent message is a 409.
CREATE UNIQUE INDEX turns_one_active_idx ON turns (session_id) WHERE status IN ('running', 'waiting_approval');
CREATE UNIQUE INDEX turns_idempotency_idx ON turns (session_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE TRIGGER turns_touch BEFORE UPDATE ON turns FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

CREATE TABLE messages (
    id           uuid PRIMARY KEY,       -- deterministic per (turn, step, role) so retried writes are no-ops
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    session_id   uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    turn_id      uuid REFERENCES turns (id) ON DELETE CASCADE,
    step         integer NOT NULL DEFAULT 0,
    role         text NOT NULL CHECK (role IN ('user', 'assistant', 'tool', 'system')),
    content      bytea NOT NULL,         -- Fernet ciphertext
    tool_calls   bytea,                  -- Fernet ciphertext of the JSON tool calls of an assistant message
    tool_call_id text NOT NULL DEFAULT '',
    tool_name    text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'cancelled', 'truncated')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_session_idx ON messages (session_id, seq);
CREATE INDEX messages_turn_idx ON messages (turn_id) WHERE turn_id IS NOT NULL;
CREATE TRIGGER messages_touch BEFORE UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

-- The turn's event log, the SSE side channel: SSE ids are seq; tokens travel here, never through
-- workflow history. Writers take the turn row's lock to allocate seq, so seq commits in order and
-- a reader following "seq > last" never skips a row. key makes every write idempotent.
-- Append-only (updated_at stays equal to created_at).
CREATE TABLE turn_events (
    turn_id    uuid NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    key        text NOT NULL,
    type       text NOT NULL,
    data       bytea NOT NULL,         -- Fernet ciphertext of the JSON payload (tokens are message content)
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (turn_id, seq),
    UNIQUE (turn_id, key)
);

CREATE TABLE tool_runs (
    id          uuid PRIMARY KEY,
    turn_id     uuid NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
    session_id  uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    server_id   uuid REFERENCES mcp_servers (id) ON DELETE SET NULL,
    step        integer NOT NULL,
    call_id     text NOT NULL,
    server_name text NOT NULL DEFAULT '',
    tool_name   text NOT NULL,
    arguments   bytea,                   -- Fernet ciphertext of the JSON arguments
    status      text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'denied', 'timed_out', 'cancelled')),
    error       text NOT NULL DEFAULT '',
    result_bytes integer NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    duration_ms integer,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (turn_id, call_id)
);
CREATE INDEX tool_runs_user_idx ON tool_runs (user_id, created_at DESC);
CREATE INDEX tool_runs_tool_idx ON tool_runs (tool_name, created_at DESC);
CREATE TRIGGER tool_runs_touch BEFORE UPDATE ON tool_runs FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

-- +goose Down
DROP TABLE tool_runs;
DROP TABLE turn_events;
DROP TABLE messages;
DROP TABLE turns;
DROP TABLE chat_sessions;
