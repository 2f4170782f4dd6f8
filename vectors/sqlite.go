package vectors

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	sqlite_vec "github.com/asg017/sqlite-vec-go-bindings/cgo"
	"github.com/google/uuid"
	"github.com/mattn/go-sqlite3" // also the "sqlite3" database/sql driver
)

// vecChunkSize is the vec0 chunk_size: vectors are stored in blobs of this many slots, at
// least one blob per (owner, group) partition. sqlite-vec's default, 1024, costs 3 MB per
// partition at 768 dimensions even for a user with one document, and measured slower to
// insert into (20k×768: 5.4 s at 1024, 1.4 s at 64) with no gain in search time.
const vecChunkSize = 64

// registryTable lists the collections of the file, so that DeleteOwner can visit them all.
const registryTable = "yw_collections"

var autoExtension sync.Once

// SQLite is the embedded Store: sqlite-vec's vec0 virtual tables in one SQLite file, in WAL
// mode, with one writer connection and a pool of readers. See the package documentation for
// the schema.
type SQLite struct {
	write *sql.DB // one connection: SQLite has one writer at a time anyway
	read  *sql.DB // read-only connections; WAL lets them read while the writer writes

	mu    sync.RWMutex
	known map[string]bool // collections known to exist (they are never dropped)
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens, or creates, the store in the SQLite file at path (its directory must
// exist). It registers sqlite-vec as an auto-extension, so every SQLite connection the process
// opens afterwards through mattn/go-sqlite3 has it.
func OpenSQLite(path string) (*SQLite, error) {
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("%w: the SQLite vector store needs a file path", ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	autoExtension.Do(sqlite_vec.Auto)
	// The API and the worker often open a new file at the same moment. Switching it to WAL, or
	// reading it while the other process does, can answer SQLITE_BUSY at once (the busy timeout
	// does not cover it), so an open that finds the file busy is tried again for a while.
	deadline := time.Now().Add(openBusyWait)
	for {
		s, err := openSQLite(abs)
		var se sqlite3.Error
		if err == nil || !errors.As(err, &se) || se.Code != sqlite3.ErrBusy || time.Now().After(deadline) {
			return s, err
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// openBusyWait is how long OpenSQLite keeps trying a file another process holds busy.
const openBusyWait = 10 * time.Second

// openSQLite is one attempt of OpenSQLite.
func openSQLite(abs string) (*SQLite, error) {
	write, err := sql.Open("sqlite3", sqliteDSN(abs, url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {"NORMAL"},
		"_busy_timeout": {"10000"},
		"_txlock":       {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("vectors: open %s: %w", abs, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if _, err := write.Exec(`CREATE TABLE IF NOT EXISTS ` + registryTable + ` (
		name       TEXT PRIMARY KEY,
		model      TEXT NOT NULL,
		dim        INTEGER NOT NULL,
		created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	)`); err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("vectors: open %s: %w", abs, err)
	}

	read, err := sql.Open("sqlite3", sqliteDSN(abs, url.Values{
		"mode":          {"ro"},
		"_busy_timeout": {"10000"},
	}))
	if err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("vectors: open %s: %w", abs, err)
	}
	read.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	read.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
	s := &SQLite{write: write, read: read, known: map[string]bool{}}
	if err := s.Ping(context.Background()); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("vectors: open %s: %w", abs, err)
	}
	return s, nil
}

// sqliteDSN is a file: URI, so that any path works and SQLite sees "mode"; mattn/go-sqlite3
// reads the parameters starting with '_' itself.
func sqliteDSN(path string, params url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: params.Encode()}
	return u.String()
}

// Close closes the store's connections.
func (s *SQLite) Close() error {
	return errors.Join(s.read.Close(), s.write.Close())
}

// Ping checks that a reader connection answers and has sqlite-vec.
func (s *SQLite) Ping(ctx context.Context) error {
	var v string
	if err := s.read.QueryRowContext(ctx, `SELECT vec_version()`).Scan(&v); err != nil {
		return fmt.Errorf("vectors: sqlite ping: %w", err)
	}
	return nil
}

// tables are the names of a collection's tables, quoted for SQL.
type tables struct {
	points string // one row per point: its id and who may read it; id is the vec0 rowid
	vec    string // the vec0 virtual table
}

func tablesOf(name string) tables {
	return tables{points: quoteIdent(name + "_points"), vec: quoteIdent(name + "_vec")}
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// createCollection creates c's tables inside the writer transaction tx.
func (s *SQLite) createCollection(ctx context.Context, tx *sql.Tx, c Collection) error {
	name := c.Name()
	if s.exists(name) {
		return nil
	}
	t := tablesOf(name)
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + t.points + ` (
			id          INTEGER PRIMARY KEY AUTOINCREMENT,
			point_id    TEXT NOT NULL UNIQUE,
			owner_id    TEXT NOT NULL,
			group_id    TEXT,
			document_id TEXT NOT NULL,
			chunk_index INTEGER NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS ` + quoteIdent(name+"_points_document") + ` ON ` + t.points + ` (document_id)`,
		`CREATE INDEX IF NOT EXISTS ` + quoteIdent(name+"_points_owner") + ` ON ` + t.points + ` (owner_id)`,
		fmt.Sprintf(`CREATE VIRTUAL TABLE IF NOT EXISTS %s USING vec0(
			owner_id TEXT PARTITION KEY,
			group_id TEXT PARTITION KEY,
			embedding float[%d] distance_metric=cosine,
			document_id TEXT,
			chunk_size=%d
		)`, t.vec, c.Dim, vecChunkSize),
		// vec0 finds a partition's chunks with a full scan of its _chunks shadow table (it has no
		// index on the partition columns); these make that a search.
		`CREATE INDEX IF NOT EXISTS ` + quoteIdent(name+"_vec_chunks_owner_idx") + ` ON ` + quoteIdent(name+"_vec_chunks") + ` (partition00, partition01)`,
		`CREATE INDEX IF NOT EXISTS ` + quoteIdent(name+"_vec_chunks_group_idx") + ` ON ` + quoteIdent(name+"_vec_chunks") + ` (partition01)`,
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("vectors: create collection %s: %w", name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+registryTable+` (name, model, dim) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, c.Model, c.Dim); err != nil {
		return fmt.Errorf("vectors: create collection %s: %w", name, err)
	}
	return nil
}

func (s *SQLite) exists(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.known[name]
}

func (s *SQLite) markExists(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known[name] = true
}

// collectionExists reports whether c has been created, by this process or another one.
func (s *SQLite) collectionExists(ctx context.Context, c Collection) (bool, error) {
	name := c.Name()
	if s.exists(name) {
		return true, nil
	}
	var one int
	err := s.read.QueryRowContext(ctx, `SELECT 1 FROM `+registryTable+` WHERE name = ?`, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("vectors: collection %s: %w", name, err)
	}
	s.markExists(name)
	return true, nil
}

// Upsert writes the points in one transaction: a point whose id exists is deleted and
// inserted again (vec0 cannot move a row to another partition, and its INSERT OR REPLACE is
// unreliable).
func (s *SQLite) Upsert(ctx context.Context, c Collection, points []Point) error {
	if err := c.validate(); err != nil {
		return err
	}
	if len(points) == 0 {
		return nil
	}
	prepared, err := preparePoints(c, points)
	if err != nil {
		return err
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("vectors: upsert: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := s.createCollection(ctx, tx, c); err != nil {
		return err
	}
	t := tablesOf(c.Name())
	w, err := prepareWriter(ctx, tx, t)
	if err != nil {
		return fmt.Errorf("vectors: upsert: %w", err)
	}
	defer w.close()
	blob := make([]byte, 4*c.Dim)
	for _, p := range prepared {
		var old int64
		err := w.find.QueryRowContext(ctx, p.ID.String()).Scan(&old)
		switch {
		case err == nil:
			if err := w.remove(ctx, old); err != nil {
				return fmt.Errorf("vectors: upsert %s: %w", p.ID, err)
			}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("vectors: upsert %s: %w", p.ID, err)
		}
		var group sql.NullString
		partitionGroup := "" // vec0 partition values cannot be NULL
		if p.GroupID != nil {
			group = sql.NullString{String: p.GroupID.String(), Valid: true}
			partitionGroup = group.String
		}
		res, err := w.insertPoint.ExecContext(ctx, p.ID.String(), p.OwnerID.String(), group, p.DocumentID.String(), p.ChunkIndex)
		if err != nil {
			return fmt.Errorf("vectors: upsert %s: %w", p.ID, err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("vectors: upsert %s: %w", p.ID, err)
		}
		if _, err := w.insertVec.ExecContext(ctx, id, p.OwnerID.String(), partitionGroup, encodeFloat32(blob, p.Vector), p.DocumentID.String()); err != nil {
			return fmt.Errorf("vectors: upsert %s: %w", p.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("vectors: upsert: %w", err)
	}
	s.markExists(c.Name())
	return nil
}

// writer holds the statements that add and remove points, prepared on a transaction.
type writer struct {
	find, insertPoint, insertVec, deleteVec, deletePoint *sql.Stmt
}

func prepareWriter(ctx context.Context, tx *sql.Tx, t tables) (*writer, error) {
	w := &writer{}
	for _, s := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&w.find, `SELECT id FROM ` + t.points + ` WHERE point_id = ?`},
		{&w.insertPoint, `INSERT INTO ` + t.points + ` (point_id, owner_id, group_id, document_id, chunk_index) VALUES (?, ?, ?, ?, ?)`},
		{&w.insertVec, `INSERT INTO ` + t.vec + ` (rowid, owner_id, group_id, embedding, document_id) VALUES (?, ?, ?, ?, ?)`},
		{&w.deleteVec, `DELETE FROM ` + t.vec + ` WHERE rowid = ?`},
		{&w.deletePoint, `DELETE FROM ` + t.points + ` WHERE id = ?`},
	} {
		stmt, err := tx.PrepareContext(ctx, s.sql)
		if err != nil {
			w.close()
			return nil, err
		}
		*s.dst = stmt
	}
	return w, nil
}

func (w *writer) remove(ctx context.Context, id int64) error {
	if _, err := w.deleteVec.ExecContext(ctx, id); err != nil {
		return err
	}
	_, err := w.deletePoint.ExecContext(ctx, id)
	return err
}

func (w *writer) close() {
	for _, s := range []*sql.Stmt{w.find, w.insertPoint, w.insertVec, w.deleteVec, w.deletePoint} {
		if s != nil {
			_ = s.Close()
		}
	}
}

// encodeFloat32 writes v into buf in the little-endian float32 layout vec0 reads.
func encodeFloat32(buf []byte, v []float32) []byte {
	buf = buf[:4*len(v)]
	for i, f := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	return buf
}

// candidate is a KNN result before the merge.
type candidate struct {
	id       int64
	distance float64
}

// Search runs one KNN per partition the tenant may read (owner_id = user, then group_id = g
// for each group, or only group_id = q.GroupID), each returning its top k, in one read
// transaction so that they see the same snapshot; it merges them by distance, drops
// duplicates (the tenant's own points in a group they belong to come back twice) and looks
// the winners up. The score is 1 - cosine distance.
func (s *SQLite) Search(ctx context.Context, c Collection, t Tenant, q Query) ([]Hit, error) {
	sr, ok, err := plan(c, t, q)
	if err != nil || !ok {
		return nil, err
	}
	if ok, err := s.collectionExists(ctx, c); err != nil || !ok {
		return nil, err
	}
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("vectors: search: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	tb := tablesOf(c.Name())

	docs := make([]any, len(sr.docs))
	for i, d := range sr.docs {
		docs[i] = d.String()
	}
	docFilter := ""
	if len(docs) > 0 {
		docFilter = ` AND document_id IN (` + placeholders(len(docs)) + `)`
	}
	vec := encodeFloat32(make([]byte, 4*c.Dim), sr.vector)
	knn := func(column, value string) ([]candidate, error) {
		args := append([]any{vec, sr.topK, value}, docs...)
		rows, err := tx.QueryContext(ctx, `SELECT rowid, distance FROM `+tb.vec+
			` WHERE embedding MATCH ? AND k = ? AND `+column+` = ?`+docFilter, args...)
		if err != nil {
			return nil, err
		}
		defer func() { _ = rows.Close() }()
		var out []candidate
		for rows.Next() {
			var cd candidate
			if err := rows.Scan(&cd.id, &cd.distance); err != nil {
				return nil, err
			}
			out = append(out, cd)
		}
		return out, rows.Err()
	}

	type partition struct{ column, value string }
	var parts []partition
	if sr.group != nil {
		parts = append(parts, partition{"group_id", sr.group.String()})
	} else {
		parts = append(parts, partition{"owner_id", sr.user.String()})
		for _, g := range sr.groups {
			parts = append(parts, partition{"group_id", g.String()})
		}
	}
	var all []candidate
	for _, p := range parts {
		got, err := knn(p.column, p.value)
		if err != nil {
			return nil, fmt.Errorf("vectors: search: %w", err)
		}
		all = append(all, got...)
	}
	best := mergeCandidates(all, sr.topK)
	if len(best) == 0 {
		return nil, nil
	}

	ids := make([]any, len(best))
	for i, cd := range best {
		ids[i] = cd.id
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, point_id, document_id, chunk_index FROM `+tb.points+
		` WHERE id IN (`+placeholders(len(ids))+`)`, ids...)
	if err != nil {
		return nil, fmt.Errorf("vectors: search: %w", err)
	}
	defer func() { _ = rows.Close() }()
	byID := make(map[int64]Hit, len(best))
	for rows.Next() {
		var (
			id         int64
			point, doc string
			chunk      int
		)
		if err := rows.Scan(&id, &point, &doc, &chunk); err != nil {
			return nil, fmt.Errorf("vectors: search: %w", err)
		}
		pid, err1 := uuid.Parse(point)
		did, err2 := uuid.Parse(doc)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("vectors: search: row %d: %w", id, err)
		}
		byID[id] = Hit{ID: pid, DocumentID: did, ChunkIndex: chunk}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vectors: search: %w", err)
	}
	hits := make([]Hit, 0, len(best))
	for _, cd := range best {
		h, ok := byID[cd.id]
		if !ok {
			return nil, fmt.Errorf("vectors: search: vector %d of %s has no point row", cd.id, c.Name())
		}
		h.Score = float32(1 - cd.distance)
		hits = append(hits, h)
	}
	sortHits(hits)
	return hits, nil
}

// mergeCandidates keeps the k closest distinct candidates.
func mergeCandidates(all []candidate, k int) []candidate {
	seen := make(map[int64]bool, len(all))
	uniq := all[:0]
	for _, cd := range all {
		if !seen[cd.id] {
			seen[cd.id] = true
			uniq = append(uniq, cd)
		}
	}
	slices.SortFunc(uniq, func(a, b candidate) int {
		if c := cmp.Compare(a.distance, b.distance); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	return uniq[:min(k, len(uniq))]
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// DeleteDocument removes a document's points from c.
func (s *SQLite) DeleteDocument(ctx context.Context, c Collection, documentID uuid.UUID) error {
	if err := c.validate(); err != nil {
		return err
	}
	return s.deleteWhere(ctx, []string{c.Name()}, "document_id", documentID)
}

// DeleteOwner removes every point owned by ownerID, in every collection, in one transaction.
func (s *SQLite) DeleteOwner(ctx context.Context, ownerID uuid.UUID) error {
	if ownerID == uuid.Nil {
		return fmt.Errorf("%w: nil owner", ErrInvalid)
	}
	return s.deleteWhere(ctx, nil, "owner_id", ownerID)
}

// deleteWhere deletes the points whose column equals value from the named collections, or from
// every collection when names is nil. Collections that do not exist are skipped.
func (s *SQLite) deleteWhere(ctx context.Context, names []string, column string, value uuid.UUID) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("vectors: delete: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	all, err := registered(ctx, tx)
	if err != nil {
		return fmt.Errorf("vectors: delete: %w", err)
	}
	if names == nil {
		names = all
	}
	for _, name := range names {
		if !slices.Contains(all, name) {
			continue
		}
		t := tablesOf(name)
		ids, err := queryIDs(ctx, tx, `SELECT id FROM `+t.points+` WHERE `+column+` = ?`, value.String())
		if err != nil {
			return fmt.Errorf("vectors: delete from %s: %w", name, err)
		}
		if len(ids) == 0 {
			continue
		}
		del, err := tx.PrepareContext(ctx, `DELETE FROM `+t.vec+` WHERE rowid = ?`)
		if err != nil {
			return fmt.Errorf("vectors: delete from %s: %w", name, err)
		}
		for _, id := range ids {
			if _, err := del.ExecContext(ctx, id); err != nil {
				_ = del.Close()
				return fmt.Errorf("vectors: delete from %s: %w", name, err)
			}
		}
		_ = del.Close()
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t.points+` WHERE `+column+` = ?`, value.String()); err != nil {
			return fmt.Errorf("vectors: delete from %s: %w", name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("vectors: delete: %w", err)
	}
	return nil
}

func registered(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM `+registryTable+` ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

func queryIDs(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// CountDocument counts a document's points in c.
func (s *SQLite) CountDocument(ctx context.Context, c Collection, documentID uuid.UUID) (int, error) {
	if err := c.validate(); err != nil {
		return 0, err
	}
	if ok, err := s.collectionExists(ctx, c); err != nil || !ok {
		return 0, err
	}
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM `+tablesOf(c.Name()).points+` WHERE document_id = ?`,
		documentID.String()).Scan(&n); err != nil {
		return 0, fmt.Errorf("vectors: count: %w", err)
	}
	return n, nil
}
