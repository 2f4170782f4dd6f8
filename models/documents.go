package models

import (
	"time"

	"github.com/google/uuid"
)

// Document statuses.
const (
	DocPending   = "pending"
	DocReady     = "ready"
	DocFailed    = "failed"
	DocCancelled = "cancelled"
)

// Ingestion run statuses and stages.
const (
	RunQueued    = "queued"
	RunRunning   = "running"
	RunCompleted = "completed"
	RunFailed    = "failed"
	RunCancelled = "cancelled"

	StageFetch    = "fetch"
	StageExtract  = "extract"
	StageChunk    = "chunk"
	StageEmbed    = "embed"
	StageIndex    = "index"
	StageFinalize = "finalize"
)

// Document sources.
const (
	SourceUpload = "upload"
	SourceURL    = "url"
	SourceText   = "text"
)

// Document is an ingested document. OriginalFilename is metadata only: never a path.
type Document struct {
	ID               uuid.UUID  `gorm:"type:uuid;primaryKey"`
	OwnerID          uuid.UUID  `gorm:"type:uuid"`
	GroupID          *uuid.UUID `gorm:"type:uuid"`
	BlobID           *uuid.UUID `gorm:"type:uuid"`
	ExtractedBlobID  *uuid.UUID `gorm:"type:uuid"`
	DuplicateOf      *uuid.UUID `gorm:"type:uuid"`
	Title            string
	SourceKind       string
	SourceURL        string `gorm:"column:source_url"`
	OriginalFilename string
	ContentType      string
	SizeBytes        int64
	SHA256           []byte  `gorm:"column:sha256"`
	Tags             Strings `gorm:"type:text[]"`
	Status           string
	ChunkCount       int
	EmbeddingModel   string
	Error            string
	WorkflowID       string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// DocumentBlob is stored bytes: a Postgres large object or a file in the blob directory.
type DocumentBlob struct {
	ID          uuid.UUID `gorm:"type:uuid;primaryKey"`
	SHA256      []byte    `gorm:"column:sha256"`
	SizeBytes   int64
	ContentType string
	ContentOID  *uint32 `gorm:"column:content_oid"`
	StoragePath *string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// DocumentChunk is one chunk of a document, with its position for citations.
type DocumentChunk struct {
	DocumentID  uuid.UUID `gorm:"type:uuid;primaryKey"`
	Idx         int       `gorm:"primaryKey"`
	Text        string
	TokenCount  int
	Page        *int
	HeadingPath Strings `gorm:"type:text[]"`
	StartOffset int
	EndOffset   int
	Embedding   []byte
	EmbeddedAt  *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// IngestionRun is one durable ingestion of a document (one IngestDocument workflow).
type IngestionRun struct {
	ID             uuid.UUID  `gorm:"type:uuid;primaryKey"`
	DocumentID     uuid.UUID  `gorm:"type:uuid"`
	OwnerID        uuid.UUID  `gorm:"type:uuid"`
	GroupID        *uuid.UUID `gorm:"type:uuid"`
	WorkflowID     string
	IdempotencyKey *string
	Status         string
	Stage          string
	ChunksDone     int
	ChunksTotal    int
	Attempts       int
	ErrorCode      string
	ErrorMessage   string
	SourceURL      string `gorm:"column:source_url"`
	EventSeq       int64
	StartedAt      *time.Time
	FinishedAt     *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time

	// RequestSHA256 fingerprints the request that carried IdempotencyKey (nil without a key).
	RequestSHA256 []byte `gorm:"column:request_sha256"`
}

// Finished reports whether the run reached a terminal status.
func (r *IngestionRun) Finished() bool {
	return r.Status == RunCompleted || r.Status == RunFailed || r.Status == RunCancelled
}
