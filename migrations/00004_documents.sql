-- Documents: blobs, chunks (citations) and durable ingestion runs. Vectors live in the vector store.
-- +goose Up
CREATE TABLE document_blobs (
    id           uuid PRIMARY KEY,
    sha256       bytea NOT NULL,
    size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
    content_type text NOT NULL DEFAULT 'application/octet-stream',
    content_oid  oid,                    -- Postgres large object, streamed in and out
    storage_path text,                   -- generated name inside the blob directory, when one is configured
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (content_oid IS NOT NULL OR storage_path IS NOT NULL)
);
CREATE INDEX document_blobs_sha_idx ON document_blobs (sha256);
CREATE TRIGGER document_blobs_touch BEFORE UPDATE ON document_blobs FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

CREATE TABLE documents (
    id                uuid PRIMARY KEY,
    owner_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id          uuid REFERENCES groups (id) ON DELETE SET NULL,
    blob_id           uuid REFERENCES document_blobs (id) ON DELETE SET NULL,
    title             text NOT NULL DEFAULT '' CHECK (length(title) <= 500),
    source_kind       text NOT NULL CHECK (source_kind IN ('upload', 'url', 'text')),
    source_url        text NOT NULL DEFAULT '',
    original_filename text NOT NULL DEFAULT '',  -- metadata only: never used as a path
    content_type      text NOT NULL DEFAULT '',
    size_bytes        bigint NOT NULL DEFAULT 0,
    sha256            bytea,
    tags              text[] NOT NULL DEFAULT '{}',
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'failed', 'cancelled')),
    chunk_count       integer NOT NULL DEFAULT 0,
    embedding_model   text NOT NULL DEFAULT '',
    error             text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_owner_idx ON documents (owner_id, created_at DESC, id);
CREATE INDEX documents_group_idx ON documents (group_id, created_at DESC, id) WHERE group_id IS NOT NULL;
CREATE INDEX documents_owner_sha_idx ON documents (owner_id, sha256);
CREATE TRIGGER documents_touch BEFORE UPDATE ON documents FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

CREATE TABLE document_chunks (
    document_id  uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    idx          integer NOT NULL,
    text         text NOT NULL,
    token_count  integer NOT NULL DEFAULT 0,
    page         integer,
    heading_path text[] NOT NULL DEFAULT '{}',
    start_offset integer NOT NULL DEFAULT 0,
    end_offset   integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, idx)
);
CREATE TRIGGER document_chunks_touch BEFORE UPDATE ON document_chunks FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

CREATE TABLE ingestion_runs (
    id              uuid PRIMARY KEY,
    document_id     uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    owner_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id        uuid REFERENCES groups (id) ON DELETE SET NULL,
    workflow_id     text NOT NULL UNIQUE,
    idempotency_key text,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    stage           text NOT NULL DEFAULT '' CHECK (stage IN ('', 'fetch', 'extract', 'chunk', 'embed', 'index', 'finalize')),
    chunks_done     integer NOT NULL DEFAULT 0,
    chunks_total    integer NOT NULL DEFAULT 0,
    attempts        integer NOT NULL DEFAULT 0,
    error_code      text NOT NULL DEFAULT '',
    error_message   text NOT NULL DEFAULT '',
    started_at      timestamptz,
    finished_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingestion_runs_owner_idx ON ingestion_runs (owner_id, created_at DESC, id);
CREATE INDEX ingestion_runs_document_idx ON ingestion_runs (document_id);
CREATE INDEX ingestion_runs_group_idx ON ingestion_runs (group_id, created_at DESC, id) WHERE group_id IS NOT NULL;
CREATE UNIQUE INDEX ingestion_runs_idempotency_idx ON ingestion_runs (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE TRIGGER ingestion_runs_touch BEFORE UPDATE ON ingestion_runs FOR EACH ROW EXECUTE FUNCTION yw_touch_updated_at();

-- +goose Down
DROP TABLE ingestion_runs;
DROP TABLE document_chunks;
DROP TABLE documents;
DROP TABLE document_blobs;
