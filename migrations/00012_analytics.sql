-- Analytics (store/analytics.go): covering indexes, so that a window of a user's or a group's turns
-- and tool runs is read from the index alone (index-only scans) instead of one heap page per row.
-- They replace the plain indexes on the same leading columns, which served the session history and
-- the tool-run list and still do (a btree scans backwards as well). Built CONCURRENTLY: writes to
-- turns and tool_runs go on while a large table is indexed; each step may be re-run after a failure.
-- docs/operations.md, "Analytics", has the measured figures.
-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS turns_user_analytics_idx;
CREATE INDEX CONCURRENTLY turns_user_analytics_idx ON turns (user_id, created_at)
    INCLUDE (session_id, status, model, prompt_tokens, completion_tokens, started_at, finished_at);
DROP INDEX CONCURRENTLY IF EXISTS turns_user_idx;

DROP INDEX CONCURRENTLY IF EXISTS turns_session_analytics_idx;
CREATE INDEX CONCURRENTLY turns_session_analytics_idx ON turns (session_id, created_at)
    INCLUDE (status, model, prompt_tokens, completion_tokens, started_at, finished_at);
DROP INDEX CONCURRENTLY IF EXISTS turns_session_idx;

DROP INDEX CONCURRENTLY IF EXISTS tool_runs_user_analytics_idx;
CREATE INDEX CONCURRENTLY tool_runs_user_analytics_idx ON tool_runs (user_id, created_at)
    INCLUDE (tool_name, server_name, status, duration_ms);
DROP INDEX CONCURRENTLY IF EXISTS tool_runs_user_idx;

-- A group's tool runs are found through its sessions; deleting a session also finds its tool runs
-- through this index now (the cascade of tool_runs.session_id had none).
DROP INDEX CONCURRENTLY IF EXISTS tool_runs_session_analytics_idx;
CREATE INDEX CONCURRENTLY tool_runs_session_analytics_idx ON tool_runs (session_id, created_at)
    INCLUDE (tool_name, server_name, status, duration_ms);

-- +goose Down
CREATE INDEX CONCURRENTLY IF NOT EXISTS tool_runs_user_idx ON tool_runs (user_id, created_at DESC);
DROP INDEX CONCURRENTLY IF EXISTS tool_runs_session_analytics_idx;
DROP INDEX CONCURRENTLY IF EXISTS tool_runs_user_analytics_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS turns_session_idx ON turns (session_id, created_at DESC);
DROP INDEX CONCURRENTLY IF EXISTS turns_session_analytics_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS turns_user_idx ON turns (user_id, created_at DESC);
DROP INDEX CONCURRENTLY IF EXISTS turns_user_analytics_idx;
