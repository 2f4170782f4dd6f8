package store

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/youworker/youworker/models"
)

// Page is a keyset page request: Limit rows after the cursor (newest first).
type Page struct {
	Limit int
	After *Cursor
}

// Cursor is the position after the last row of a page: its sort time and id.
type Cursor struct {
	T  time.Time `json:"t"`
	ID uuid.UUID `json:"id"`
}

// Encode returns the opaque cursor string clients send back.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a cursor produced by Encode.
func DecodeCursor(s string) (*Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c Cursor
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.ID == uuid.Nil {
		return nil, models.Invalid("cursor", "cursor is malformed")
	}
	return &c, nil
}

// after restricts a "column DESC, id DESC" ordered query to rows after the cursor.
func (p Page) after(column string) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		if p.After == nil {
			return db
		}
		return db.Where("("+column+", id) < (?, ?)", p.After.T, p.After.ID)
	}
}

// Trim cuts rows fetched with Limit+1 down to the page and returns the next cursor, if any.
func Trim[T any](rows []T, limit int, key func(T) Cursor) ([]T, *Cursor) {
	if len(rows) <= limit {
		return rows, nil
	}
	rows = rows[:limit]
	c := key(rows[limit-1])
	return rows, &c
}
