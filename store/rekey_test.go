package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

func TestRekeyBatchVisitsEveryRow(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	var turns = 3
	for range turns {
		turn := newTurn(t, st)
		var evs []models.Event
		for i := range 12 {
			evs = append(evs, models.Event{Key: fmt.Sprint(i), Type: "t", Data: []byte("old")})
		}
		_, err := st.AppendEvents(ctx, store.TurnLog, turn, evs)
		require.NoError(t, err)
	}
	var table store.SealedTable
	for _, tb := range store.SealedTables {
		if tb.Name == "turn_events" {
			table = tb
		}
	}
	var after []string
	total := 0
	for range 100 {
		next, scanned, rewritten, err := st.RekeyBatch(ctx, table, after, 4, func(b []byte) ([]byte, bool, error) {
			if string(b) == "old" {
				return []byte("new"), true, nil
			}
			return nil, false, nil
		})
		require.NoError(t, err)
		require.Equal(t, scanned, rewritten)
		total += scanned
		if next == nil {
			break
		}
		after = next
	}
	require.Equal(t, 36, total, "every row once: seq 10 must not sort before 2")
	var left int
	require.NoError(t, st.SQL().QueryRow(`SELECT count(*) FROM turn_events WHERE data = 'old'`).Scan(&left))
	require.Zero(t, left)
}
