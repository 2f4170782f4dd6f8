-- parallel_tool_calls: false on /v1/chat/completions: the session's model messages keep one tool
-- call each (the first), as OpenAI's setting promises the client.
-- +goose Up
ALTER TABLE chat_sessions ADD COLUMN one_tool_call boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE chat_sessions DROP COLUMN one_tool_call;
