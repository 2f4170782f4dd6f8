-- The response format an OpenAI-compatible request asks of the model (response_format: Ollama's
-- "json" or a JSON Schema), sealed like the session's client tools.
-- +goose Up
ALTER TABLE chat_sessions ADD COLUMN response_format bytea;

-- +goose Down
ALTER TABLE chat_sessions DROP COLUMN response_format;
