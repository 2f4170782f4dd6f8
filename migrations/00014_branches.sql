-- Branches (regenerate, edit and resend): messages form a tree. parent_id is the message a
-- message follows (NULL: the first message of a branch from the start); a turn hangs off
-- parent_message_id (the message its first message follows: for a regenerated turn, the user
-- message it answers again); a session's active branch is found from active_message_id (the
-- message the user last chose, posted or regenerated from) by following the newest child down
-- (store/branches.go). docs/decisions.md, "Branches".
-- +goose Up
ALTER TABLE messages ADD COLUMN parent_id uuid REFERENCES messages (id) ON DELETE CASCADE;
ALTER TABLE turns ADD COLUMN parent_message_id uuid;
ALTER TABLE chat_sessions ADD COLUMN active_message_id uuid;

-- Existing sessions are linear: each message follows the previous message of its session.
UPDATE messages m SET parent_id = p.prev
FROM (SELECT id, lag(id) OVER (PARTITION BY session_id ORDER BY seq) AS prev FROM messages) p
WHERE p.id = m.id AND p.prev IS NOT NULL;
-- An existing turn follows what its first message follows, or (a turn without messages yet) the
-- last message of its session stored before it started.
UPDATE turns t SET parent_message_id = coalesce(
    (SELECT m.parent_id FROM messages m WHERE m.turn_id = t.id ORDER BY m.seq LIMIT 1),
    (SELECT m.id FROM messages m WHERE m.session_id = t.session_id AND m.created_at <= t.started_at ORDER BY m.seq DESC LIMIT 1));

CREATE INDEX messages_parent_idx ON messages (parent_id, seq) WHERE parent_id IS NOT NULL;

-- A message the worker writes for a turn (an answer, a tool call, a tool result) follows the
-- turn's latest message (the one without a child in the turn), or the message the turn hangs off.
-- The turn's row lock orders concurrent writers (parallel tool results), so a turn's messages are
-- one chain. User messages and imported ones are stored with their parent (store.StartTurnOn,
-- store.ImportMessages).
-- +goose StatementBegin
CREATE FUNCTION yw_message_parent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    anchor uuid;
BEGIN
    SELECT parent_message_id INTO anchor FROM turns WHERE id = NEW.turn_id FOR UPDATE;
    NEW.parent_id := coalesce(
        (SELECT m.id FROM messages m
         WHERE m.turn_id = NEW.turn_id AND m.id <> NEW.id
           AND NOT EXISTS (SELECT 1 FROM messages c WHERE c.parent_id = m.id AND c.turn_id = NEW.turn_id)
         ORDER BY m.seq DESC LIMIT 1),
        anchor);
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER messages_parent BEFORE INSERT ON messages FOR EACH ROW
    WHEN (NEW.turn_id IS NOT NULL AND NEW.parent_id IS NULL AND NEW.role <> 'user')
    EXECUTE FUNCTION yw_message_parent();

-- +goose Down
DROP TRIGGER messages_parent ON messages;
DROP FUNCTION yw_message_parent();
DROP INDEX messages_parent_idx;
ALTER TABLE chat_sessions DROP COLUMN active_message_id;
ALTER TABLE turns DROP COLUMN parent_message_id;
ALTER TABLE messages DROP COLUMN parent_id;
