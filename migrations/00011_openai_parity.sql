-- OpenAI-compatible completions: the client-side functions a client offers the model (sealed),
-- the request's `user` (the client's id of its end user) and the images of a message (sealed).
-- +goose Up
ALTER TABLE chat_sessions ADD COLUMN client_tools bytea, ADD COLUMN end_user text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN images bytea;

-- +goose Down
ALTER TABLE messages DROP COLUMN images;
ALTER TABLE chat_sessions DROP COLUMN client_tools, DROP COLUMN end_user;
