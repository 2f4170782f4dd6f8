-- Turn safety: one decision per tool call waiting for approval, and finding unfinished turns for
-- the reaper.
-- +goose Up

-- Decisions on tool calls that waited for the user's approval. The first decision wins (the
-- primary key); who decided is kept (the turn's owner or a group admin).
CREATE TABLE tool_approvals (
    turn_id    uuid NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
    call_id    text NOT NULL,
    approved   boolean NOT NULL,
    reason     text NOT NULL DEFAULT '',
    decided_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (turn_id, call_id)
);

-- The reaper looks for unfinished turns older than its grace period.
CREATE INDEX turns_unfinished_idx ON turns (started_at) WHERE status IN ('running', 'waiting_approval');

-- +goose Down
DROP INDEX turns_unfinished_idx;
DROP TABLE tool_approvals;
