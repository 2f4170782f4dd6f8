-- Ingestion pipeline state: embeddings between the embed and index stages, the run event log
-- (SSE), and duplicate detection.
-- +goose Up
ALTER TABLE document_chunks
    ADD COLUMN embedding bytea,            -- little-endian float32s, written by the embed stage, read by index
    ADD COLUMN embedded_at timestamptz;

ALTER TABLE documents ADD COLUMN duplicate_of uuid REFERENCES documents (id) ON DELETE SET NULL;
ALTER TABLE documents ADD COLUMN extracted_blob_id uuid REFERENCES document_blobs (id) ON DELETE SET NULL;
ALTER TABLE documents ADD COLUMN workflow_id text NOT NULL DEFAULT '';
CREATE INDEX documents_ready_sha_idx ON documents (owner_id, sha256) WHERE status = 'ready' AND duplicate_of IS NULL;

ALTER TABLE ingestion_runs ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE ingestion_runs ADD COLUMN source_url text NOT NULL DEFAULT '';

-- Progress events of a run (no content: stage names and counts). Same ordering rules as turn_events.
CREATE TABLE ingestion_events (
    run_id     uuid NOT NULL REFERENCES ingestion_runs (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    key        text NOT NULL,
    type       text NOT NULL,
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq),
    UNIQUE (run_id, key)
);

-- +goose Down
DROP TABLE ingestion_events;
ALTER TABLE ingestion_runs DROP COLUMN source_url;
ALTER TABLE ingestion_runs DROP COLUMN event_seq;
DROP INDEX documents_ready_sha_idx;
ALTER TABLE documents DROP COLUMN workflow_id;
ALTER TABLE documents DROP COLUMN extracted_blob_id;
ALTER TABLE documents DROP COLUMN duplicate_of;
ALTER TABLE document_chunks DROP COLUMN embedded_at, DROP COLUMN embedding;
