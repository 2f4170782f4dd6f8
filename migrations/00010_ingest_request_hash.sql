-- An ingestion request's fingerprint, kept with its Idempotency-Key: a retry with the same key must
-- be the same request (same content, title, group, tags); another request under a used key is a
-- 409 instead of silently answering with the first one's document.
-- +goose Up
ALTER TABLE ingestion_runs ADD COLUMN request_sha256 bytea;

-- +goose Down
ALTER TABLE ingestion_runs DROP COLUMN request_sha256;
