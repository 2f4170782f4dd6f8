package store

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// @names become $n in order of first use, a name used twice keeps its number, and an @ that
// names nothing stays as it is.
func TestToPositional(t *testing.T) {
	p := toPositional(`SELECT @b_1, CAST(@a AS text) || '@' FROM x WHERE y = @b_1 AND z = ANY (@Ab)::int`)
	require.Equal(t, `SELECT $1, CAST($2 AS text) || '@' FROM x WHERE y = $1 AND z = ANY ($3)::int`, p.sql)
	require.Equal(t, []string{"b_1", "a", "Ab"}, p.names)
	require.Equal(t, p, toPositional(`SELECT @b_1, CAST(@a AS text) || '@' FROM x WHERE y = @b_1 AND z = ANY (@Ab)::int`), "cached")

	for _, q := range []string{TurnLog.appendSQL(alongside{}), TurnLog.appendSQL(alongside{with: putMessage, change: finishTurn}), conversationSQL} {
		p := toPositional(q)
		require.NotContains(t, p.sql, "@", "every @name of the hot statements is bound")
		require.NotEmpty(t, p.names)
	}
}

// A name without a value is an error before anything is sent.
func TestBindNamesEveryValue(t *testing.T) {
	p, values, err := bind(`SELECT @a, @b, @a`, map[string]any{"a": 1, "b": "two", "unused": 3})
	require.NoError(t, err)
	require.Equal(t, `SELECT $1, $2, $1`, p.sql)
	require.Equal(t, []any{1, "two"}, values)
	_, _, err = bind(`SELECT @a, @c`, map[string]any{"a": 1})
	require.ErrorContains(t, err, "no value for @c")
}
