package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

// BenchmarkTurnStatements runs the statements of a tool-free turn at 20 ms per token (the turn
// insert, the context read, four token appends, the answer that finishes the turn) over one
// connection, with Postgres choosing plans as it does by default and with generic plans forced.
func BenchmarkTurnStatements(b *testing.B) {
	for _, mode := range []string{"auto", "force_generic_plan"} {
		b.Run(mode, func(b *testing.B) {
			db := testenv.NewDB(b)
			st, err := store.Open(store.Options{URL: db.DSN, PoolSize: 1, Logger: slog.New(slog.DiscardHandler), SlowQuery: time.Hour})
			require.NoError(b, err)
			defer st.Close()
			ctx := context.Background()
			_, err = st.SQL().ExecContext(ctx, "SET plan_cache_mode = "+mode)
			require.NoError(b, err)
			u := &models.User{Username: "bench"}
			require.NoError(b, st.CreateUser(ctx, u))
			c := models.Caller{UserID: u.ID}
			cs := &models.ChatSession{Model: "m"}
			require.NoError(b, st.CreateSession(ctx, c, cs))
			var spent [4]time.Duration
			lap := func(k int, t0 time.Time) { spent[k] += time.Since(t0) }
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				turn := &models.Turn{ID: uuid.New(), WorkflowID: uuid.NewString(), Status: models.TurnRunning, StartedAt: time.Now()}
				_, _, _, err := st.StartTurnUnlessBudgeted(ctx, c, cs.ID, turn, []byte("sealed question"), nil, store.Branch{})
				require.NoError(b, err)
				lap(0, t0)
				t0 = time.Now()
				_, _, err = st.Conversation(ctx, turn.ID, 50)
				require.NoError(b, err)
				lap(1, t0)
				t0 = time.Now()
				for j := range 4 {
					_, err = st.AppendEvents(ctx, store.TurnLog, turn.ID, []models.Event{{Key: fmt.Sprintf("tok:%d", j), Type: "token", Data: []byte("sealed tokens")}})
					require.NoError(b, err)
				}
				lap(2, t0)
				t0 = time.Now()
				m := &models.Message{ID: uuid.New(), SessionID: cs.ID, TurnID: &turn.ID, Step: 1, Role: models.RoleAssistant,
					Content: []byte(fmt.Sprint("sealed answer ", i)), Status: models.MessageComplete}
				_, err = st.FinishTurnWithMessage(ctx, m, models.TurnOutcome{Status: models.TurnCompleted, Steps: 1}, time.Now(),
					[]models.Event{{Key: "end", Type: "turn.completed", Data: []byte("sealed")}})
				require.NoError(b, err)
				lap(3, t0)
			}
			for k, name := range []string{"insert", "context", "4appends", "finish"} {
				b.ReportMetric(float64(spent[k].Microseconds())/float64(b.N), name+"-us/op")
			}
		})
	}
}
