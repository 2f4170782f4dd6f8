-- Per-tenant budgets (docs/decisions.md, "Budgets"). A budget caps the tokens and the turns of one
-- user or one group per UTC day and per UTC month (NULL: no cap on that measure). budget_charges
-- is the ledger the caps are checked against: one row per model call of a turn under a budget,
-- keyed by (turn, step) so that a retried call, a replacement worker or a replayed workflow finds
-- its row instead of charging again. reserved_tokens is what the call may spend at most (taken
-- before the call, under the budgets' row locks); used_tokens what it spent (prompt + completion
-- as Ollama reports them), NULL while the call runs. Step 0 rows are the totals of turns that
-- finished before their tenant had a budget (written when the budget is created, so that a new
-- budget counts the window's earlier usage). A turn counts once: at its step 1 (or 0) row.
-- +goose Up
CREATE TABLE budgets (
    user_id        uuid UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    group_id       uuid UNIQUE REFERENCES groups (id) ON DELETE CASCADE,
    daily_tokens   bigint CHECK (daily_tokens >= 0),
    monthly_tokens bigint CHECK (monthly_tokens >= 0),
    daily_turns    integer CHECK (daily_turns >= 0),
    monthly_turns  integer CHECK (monthly_turns >= 0),
    updated_by     uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE TRIGGER budgets_touch BEFORE UPDATE ON budgets FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

CREATE TABLE budget_charges (
    turn_id         uuid NOT NULL,
    step            integer NOT NULL CHECK (step >= 0),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id        uuid REFERENCES groups (id) ON DELETE SET NULL,
    reserved_tokens bigint NOT NULL CHECK (reserved_tokens >= 0),
    used_tokens     bigint CHECK (used_tokens >= 0),
    charged_at      timestamptz NOT NULL,
    committed_at    timestamptz,
    PRIMARY KEY (turn_id, step)
);
-- The usage of a window is a range scan of one of these (index-only: the sums read the INCLUDE
-- columns).
CREATE INDEX budget_charges_user_idx ON budget_charges (user_id, charged_at) INCLUDE (step, reserved_tokens, used_tokens);
CREATE INDEX budget_charges_group_idx ON budget_charges (group_id, charged_at) INCLUDE (step, reserved_tokens, used_tokens)
    WHERE group_id IS NOT NULL;

-- +goose Down
DROP TABLE budget_charges;
DROP TABLE budgets;
