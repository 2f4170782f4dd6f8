package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/youworker/youworker/encryption"
)

// SealedTable names a table holding ciphertext: its key columns (with their SQL types, in order),
// its encrypted columns and the columns naming a row in the ciphertext's binding.
type SealedTable struct {
	Name    string
	Keys    []string // column names
	KeyType []string // SQL types to cast cursor values to
	Columns []string
	// Bind are the columns whose values, in order, name the row in the binding of its ciphertext
	// (encryption.Bind(Name, column, values...)): the primary key, or a unique key that is known
	// before the row is written and never changes (events get their seq as they are inserted).
	Bind []string
}

// SealedTables are every table with ciphertext at rest.
var SealedTables = []SealedTable{
	{Name: "messages", Keys: []string{"id"}, KeyType: []string{"uuid"}, Columns: []string{"content", "tool_calls", "images"}, Bind: []string{"id"}},
	{Name: "chat_sessions", Keys: []string{"id"}, KeyType: []string{"uuid"}, Columns: []string{"system_prompt", "client_tools", "response_format"}, Bind: []string{"id"}},
	{Name: "tool_runs", Keys: []string{"id"}, KeyType: []string{"uuid"}, Columns: []string{"arguments"}, Bind: []string{"turn_id", "call_id"}},
	{Name: "turn_events", Keys: []string{"turn_id", "seq"}, KeyType: []string{"uuid", "bigint"}, Columns: []string{"data"}, Bind: []string{"turn_id", "key"}},
	{Name: "ingestion_events", Keys: []string{"run_id", "seq"}, KeyType: []string{"uuid", "bigint"}, Columns: []string{"data"}, Bind: []string{"run_id", "key"}},
	{Name: "document_ocr_pages", Keys: []string{"document_id", "page"}, KeyType: []string{"uuid", "integer"}, Columns: []string{"text"}, Bind: []string{"document_id", "page"}},
}

// Where each sealed value is stored, for the binding of its ciphertext; SealedTables says the
// same for the rotation.

// MessageContent binds messages.content of message id.
func MessageContent(id uuid.UUID) encryption.Binding {
	return encryption.Bind("messages", "content", id.String())
}

// MessageToolCalls binds messages.tool_calls of message id.
func MessageToolCalls(id uuid.UUID) encryption.Binding {
	return encryption.Bind("messages", "tool_calls", id.String())
}

// MessageImages binds messages.images of message id.
func MessageImages(id uuid.UUID) encryption.Binding {
	return encryption.Bind("messages", "images", id.String())
}

// SessionResponseFormat binds chat_sessions.response_format of session id.
func SessionResponseFormat(id uuid.UUID) encryption.Binding {
	return encryption.Bind("chat_sessions", "response_format", id.String())
}

// SessionClientTools binds chat_sessions.client_tools of session id.
func SessionClientTools(id uuid.UUID) encryption.Binding {
	return encryption.Bind("chat_sessions", "client_tools", id.String())
}

// SessionPrompt binds chat_sessions.system_prompt of session id.
func SessionPrompt(id uuid.UUID) encryption.Binding {
	return encryption.Bind("chat_sessions", "system_prompt", id.String())
}

// ToolRunArguments binds tool_runs.arguments of the run of call callID in turn turnID.
func ToolRunArguments(turnID uuid.UUID, callID string) encryption.Binding {
	return encryption.Bind("tool_runs", "arguments", turnID.String(), callID)
}

// EventData binds the data of the event with key in the log of parent id.
func (l EventLog) EventData(id uuid.UUID, key string) encryption.Binding {
	return encryption.Bind(l.table, "data", id.String(), key)
}

// ExtractedText binds the sealed extracted text (a blob) of document id.
func ExtractedText(docID uuid.UUID) encryption.Binding {
	return encryption.Bind("documents", "extracted_text", docID.String())
}

// RekeyBatch reads up to limit rows of t after the cursor, passes every non-null sealed value with
// its binding to reseal (which returns the new ciphertext and whether it changed) and writes back
// the changed ones, in one transaction. It returns the cursor of the last row read (nil when the
// table is done).
func (s *Store) RekeyBatch(ctx context.Context, t SealedTable, after []string, limit int,
	reseal func(encryption.Binding, []byte) ([]byte, bool, error)) (next []string, scanned, rewritten int, err error) {
	casts := make([]string, len(t.Keys))
	for i, typ := range t.KeyType {
		casts[i] = fmt.Sprintf("$%d::%s", i+1, typ)
	}
	where := ""
	args := []any{}
	if after != nil {
		where = fmt.Sprintf("WHERE (%s) > (%s)", qualified(t.Keys), strings.Join(casts, ", "))
		for _, a := range after {
			args = append(args, a)
		}
	}
	// The text copies of the keys get their own names: ORDER BY must sort by the typed columns
	// (an output column named like the key would make "10" sort before "2").
	sel := fmt.Sprintf("SELECT %s, %s, %s FROM %s AS t %s ORDER BY %s LIMIT %d FOR UPDATE",
		strings.Join(keyText(t.Keys, "cursor"), ", "), strings.Join(keyText(t.Bind, "bind"), ", "), strings.Join(t.Columns, ", "),
		t.Name, where, qualified(t.Keys), limit)
	err = s.InTx(ctx, func(tx *Store) error {
		rows, err := tx.q(ctx).Raw(sel, args...).Rows()
		if err != nil {
			return err
		}
		type row struct {
			key  []string
			bind []string
			vals [][]byte
		}
		var batch []row
		for rows.Next() {
			r := row{key: make([]string, len(t.Keys)), bind: make([]string, len(t.Bind)), vals: make([][]byte, len(t.Columns))}
			dest := make([]any, 0, len(t.Keys)+len(t.Bind)+len(t.Columns))
			for i := range r.key {
				dest = append(dest, &r.key[i])
			}
			for i := range r.bind {
				dest = append(dest, &r.bind[i])
			}
			for i := range r.vals {
				dest = append(dest, &r.vals[i])
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range batch {
			scanned++
			sets, vals := []string{}, []any{}
			for i, v := range r.vals {
				if v == nil {
					continue
				}
				nv, changed, err := reseal(encryption.Bind(t.Name, t.Columns[i], r.bind...), v)
				if err != nil {
					return fmt.Errorf("%s %v: %w", t.Name, r.key, err)
				}
				if changed {
					vals = append(vals, nv)
					sets = append(sets, fmt.Sprintf("%s = $%d", t.Columns[i], len(vals)))
				}
			}
			if len(sets) == 0 {
				continue
			}
			conds := make([]string, len(t.Keys))
			for i, k := range t.Keys {
				vals = append(vals, r.key[i])
				conds[i] = fmt.Sprintf("%s = $%d::%s", k, len(vals), t.KeyType[i])
			}
			upd := fmt.Sprintf("UPDATE %s SET %s WHERE %s", t.Name, strings.Join(sets, ", "), strings.Join(conds, " AND "))
			if err := tx.q(ctx).Exec(upd, vals...).Error; err != nil {
				return err
			}
			rewritten++
		}
		if len(batch) == limit {
			next = batch[len(batch)-1].key
		}
		return nil
	})
	return next, scanned, rewritten, translate(err)
}

func keyText(keys []string, as string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("t.%s::text AS %s_%d", k, as, i)
	}
	return out
}

func qualified(keys []string) string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = "t." + k
	}
	return strings.Join(out, ", ")
}

// ExtractedBlobs pages the documents whose extracted text is stored (sealed) in a blob.
func (s *Store) ExtractedBlobs(ctx context.Context, after string, limit int) (ids, blobs []string, err error) {
	q := `SELECT id::text, extracted_blob_id::text FROM documents WHERE extracted_blob_id IS NOT NULL`
	args := []any{}
	if after != "" {
		q += ` AND id > $1::uuid`
		args = append(args, after)
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, limit)
	rows, err := s.SQL().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, blob string
		if err := rows.Scan(&id, &blob); err != nil {
			return nil, nil, err
		}
		ids, blobs = append(ids, id), append(blobs, blob)
	}
	return ids, blobs, rows.Err()
}

// RekeyTables is the order key rotation goes through the sealed data: the sealed tables, then the
// document blobs. The rotation's starter passes it to the RotateKeys workflow.
func RekeyTables() []string {
	out := make([]string, 0, len(SealedTables)+1)
	for _, t := range SealedTables {
		out = append(out, t.Name)
	}
	return append(out, "document_blobs")
}
