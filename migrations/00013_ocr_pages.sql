-- The OCR of a scanned PDF's pages, kept while its ingestion runs: an extract attempt that is cut
-- short (a killed worker, a timeout) resumes at the next page instead of OCRing the done ones
-- again. The text is sealed like the extracted text; the rows go when the run finishes.
-- +goose Up
CREATE TABLE document_ocr_pages (
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    page        integer NOT NULL CHECK (page > 0),
    text        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, page)
);

-- +goose Down
DROP TABLE document_ocr_pages;
