package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/youworker/youworker/models"
)

// Blobs keeps document bytes: in Postgres large objects (streamed, never held in memory), or as
// files in a directory when one is configured. File names are generated; nothing a client sent
// ever becomes a path.
type Blobs struct {
	store *Store
	dir   string // "" = Postgres large objects
}

// Blobs returns the blob storage; dir "" keeps blobs in Postgres.
func (s *Store) Blobs(dir string) *Blobs { return &Blobs{store: s, dir: dir} }

// Put stores r and returns its row (id, SHA-256, size).
func (b *Blobs) Put(ctx context.Context, r io.Reader, contentType string) (*models.DocumentBlob, error) {
	blob := &models.DocumentBlob{ID: uuid.New(), ContentType: contentType}
	h := sha256.New()
	tee := io.TeeReader(r, h)
	if b.dir != "" {
		name, n, err := b.writeFile(blob.ID, tee)
		if err != nil {
			return nil, err
		}
		blob.StoragePath, blob.SizeBytes, blob.SHA256 = &name, n, h.Sum(nil)
		if err := b.store.q(ctx).Create(blob).Error; err != nil {
			_ = os.Remove(filepath.Join(b.dir, name))
			return nil, translate(err)
		}
		return blob, nil
	}
	err := b.withTx(ctx, func(tx pgx.Tx) error {
		los := tx.LargeObjects()
		oid, err := los.Create(ctx, 0)
		if err != nil {
			return err
		}
		lo, err := los.Open(ctx, oid, pgx.LargeObjectModeWrite)
		if err != nil {
			return err
		}
		n, err := io.Copy(lo, tee)
		if err != nil {
			return err
		}
		if err := lo.Close(); err != nil {
			return err
		}
		blob.ContentOID, blob.SizeBytes, blob.SHA256 = &oid, n, h.Sum(nil)
		_, err = tx.Exec(ctx, `INSERT INTO document_blobs (id, sha256, size_bytes, content_type, content_oid) VALUES ($1, $2, $3, $4, $5)`,
			blob.ID, blob.SHA256, blob.SizeBytes, blob.ContentType, oid)
		return err
	})
	if err != nil {
		return nil, translate(err)
	}
	return blob, nil
}

func (b *Blobs) writeFile(id uuid.UUID, r io.Reader) (string, int64, error) {
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return "", 0, err
	}
	name := id.String()
	tmp, err := os.CreateTemp(b.dir, ".upload-*")
	if err != nil {
		return "", 0, err
	}
	n, err := io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(b.dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return "", 0, err
	}
	return name, n, nil
}

// Get returns a blob's row.
func (b *Blobs) Get(ctx context.Context, id uuid.UUID) (*models.DocumentBlob, error) {
	var blob models.DocumentBlob
	if err := b.store.q(ctx).Where("id = ?", id).Take(&blob).Error; err != nil {
		return nil, notFound(translate(err), "BLOB", "blob")
	}
	return &blob, nil
}

// CopyTo streams a blob into w.
func (b *Blobs) CopyTo(ctx context.Context, id uuid.UUID, w io.Writer) (int64, error) {
	blob, err := b.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	if blob.StoragePath != nil {
		f, err := os.Open(filepath.Join(b.dir, filepath.Base(*blob.StoragePath)))
		if err != nil {
			return 0, fmt.Errorf("open blob file: %w", err)
		}
		defer f.Close()
		return io.Copy(w, f)
	}
	var n int64
	err = b.withTx(ctx, func(tx pgx.Tx) error {
		los := tx.LargeObjects()
		lo, err := los.Open(ctx, *blob.ContentOID, pgx.LargeObjectModeRead)
		if err != nil {
			return err
		}
		defer lo.Close()
		n, err = io.Copy(w, lo)
		return err
	})
	return n, translate(err)
}

// Delete removes a blob's bytes and row. Deleting a missing blob is not an error.
func (b *Blobs) Delete(ctx context.Context, id uuid.UUID) error {
	blob, err := b.Get(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if blob.StoragePath != nil {
		if err := os.Remove(filepath.Join(b.dir, filepath.Base(*blob.StoragePath))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return translate(b.store.q(ctx).Exec(`DELETE FROM document_blobs WHERE id = ?`, id).Error)
	}
	return translate(b.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT lo_unlink(content_oid) FROM document_blobs WHERE id = $1 AND content_oid IS NOT NULL
			AND EXISTS (SELECT 1 FROM pg_largeobject_metadata WHERE oid = content_oid)`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM document_blobs WHERE id = $1`, id)
		return err
	}))
}

// withTx runs fn in a pgx transaction on a pooled connection (large objects need one).
func (b *Blobs) withTx(ctx context.Context, fn func(pgx.Tx) error) error {
	conn, err := b.store.SQL().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		return pgx.BeginFunc(ctx, pc, fn)
	})
}
