-- MCP tool servers: the built-in ones and those users register (streamable HTTP only).
-- +goose Up
CREATE TABLE mcp_servers (
    id                uuid PRIMARY KEY,
    owner_id          uuid REFERENCES users (id) ON DELETE CASCADE,  -- NULL for built-in servers
    group_id          uuid REFERENCES groups (id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    url               text NOT NULL,
    builtin           boolean NOT NULL DEFAULT false,
    requires_approval boolean NOT NULL DEFAULT false,
    timeout_ms        integer NOT NULL DEFAULT 30000 CHECK (timeout_ms BETWEEN 100 AND 600000),
    enabled           boolean NOT NULL DEFAULT true,
    -- tool name -> {"description_sha256": "...", "approved": bool}; a changed description disables the tool.
    tools             jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (builtin OR owner_id IS NOT NULL)
);
CREATE UNIQUE INDEX mcp_servers_builtin_name_idx ON mcp_servers (name) WHERE builtin;
CREATE UNIQUE INDEX mcp_servers_owner_name_idx ON mcp_servers (owner_id, name) WHERE owner_id IS NOT NULL;
CREATE INDEX mcp_servers_group_idx ON mcp_servers (group_id) WHERE group_id IS NOT NULL;
CREATE TRIGGER mcp_servers_touch BEFORE UPDATE ON mcp_servers FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

-- +goose Down
DROP TABLE mcp_servers;
