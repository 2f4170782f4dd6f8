package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// The hot statements of a turn (the event log's appends, once per token batch) skip gorm's
// statement building: gorm parses the SQL for @names on every call and scans through reflection,
// about a tenth of a worker's CPU per turn. queryRow runs them on the same connection pool (or
// transaction) and the same slow-query log, with the @names turned into $n once per query text.

// positional is a query with its @names turned into $1, $2, … and the names in that order.
type positional struct {
	sql   string
	names []string
}

var positionals sync.Map // query text → positional

// toPositional turns each @name (letters, digits, underscores) of query into $n, the same name
// always the same n. The queries it is given hold no @ in a literal or a comment.
func toPositional(query string) positional {
	if p, ok := positionals.Load(query); ok {
		return p.(positional)
	}
	var b strings.Builder
	var names []string
	index := map[string]int{}
	for i := 0; i < len(query); i++ {
		c := query[i]
		if c != '@' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(query) && (query[j] == '_' || query[j] >= 'a' && query[j] <= 'z' || query[j] >= 'A' && query[j] <= 'Z' || query[j] >= '0' && query[j] <= '9') {
			j++
		}
		name := query[i+1 : j]
		if name == "" {
			b.WriteByte(c)
			continue
		}
		n, ok := index[name]
		if !ok {
			names = append(names, name)
			n = len(names)
			index[name] = n
		}
		fmt.Fprintf(&b, "$%d", n)
		i = j - 1
	}
	p := positional{sql: b.String(), names: names}
	positionals.Store(query, p)
	return p
}

// bind is query in positional form with the values of its names from args, in order.
func bind(query string, args map[string]any) (positional, []any, error) {
	p := toPositional(query)
	values := make([]any, len(p.names))
	for i, name := range p.names {
		v, ok := args[name]
		if !ok {
			return p, nil, fmt.Errorf("store: no value for @%s", name)
		}
		values[i] = v
	}
	return p, values, nil
}

// queryRow runs query (with @names bound from args) and scans its one row into dest; no row
// leaves dest as it was and is not an error.
func (s *Store) queryRow(ctx context.Context, query string, args map[string]any, dest ...any) error {
	return s.queryRows(ctx, query, args, func(scan func(...any) error) error { return scan(dest...) })
}

// queryRows runs query (with @names bound from args) and hands each row to each, which scans it.
func (s *Store) queryRows(ctx context.Context, query string, args map[string]any, each func(scan func(dest ...any) error) error) error {
	p, values, err := bind(query, args)
	if err != nil {
		return err
	}
	db := s.q(ctx)
	begin := time.Now()
	var n int64
	rows, err := db.Statement.ConnPool.QueryContext(ctx, p.sql, values...)
	if err == nil {
		for rows.Next() {
			n++
			if err = each(rows.Scan); err != nil {
				break
			}
		}
		if err == nil {
			err = rows.Err()
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
	}
	db.Logger.Trace(ctx, begin, func() (string, int64) { return p.sql, n }, err)
	return err
}
