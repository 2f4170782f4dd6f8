package store

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
)

// TurnEventsChannel is the Postgres NOTIFY channel announcing new turn events; the payload is the
// turn id.
const TurnEventsChannel = "yw_turn_events"

// appendEventsSQL appends events in one statement (one round trip): it skips keys already in the
// log, takes the turn row's lock to allocate gapless sequence numbers (so seq commits in order and
// a reader following "seq > last" never skips a row), inserts, and notifies listeners.
const appendEventsSQL = `
WITH input AS (
    SELECT * FROM unnest(CAST(@keys AS text[]), CAST(@types AS text[]), CAST(@datas AS bytea[])) WITH ORDINALITY AS x(key, type, data, ord)
), firsts AS (
    SELECT DISTINCT ON (key) key, type, data, ord FROM input ORDER BY key, ord
), fresh AS (
    SELECT i.key, i.type, i.data, row_number() OVER (ORDER BY i.ord) AS rn
    FROM firsts i
    WHERE NOT EXISTS (SELECT 1 FROM turn_events e WHERE e.turn_id = @turn AND e.key = i.key)
), bump AS (
    UPDATE turns SET event_seq = event_seq + (SELECT count(*) FROM fresh)
    WHERE id = @turn
    RETURNING event_seq, event_seq - (SELECT count(*) FROM fresh) AS base
), ins AS (
    INSERT INTO turn_events (turn_id, seq, key, type, data)
    SELECT @turn, bump.base + fresh.rn, fresh.key, fresh.type, fresh.data FROM fresh, bump
    RETURNING seq
)
SELECT bump.event_seq AS last,
       (SELECT count(*) FROM ins) AS inserted,
       CASE WHEN EXISTS (SELECT 1 FROM ins) THEN pg_notify(@channel, CAST(@turn AS text)) END AS notified
FROM bump`

// AppendTurnEvents appends events to a turn's log and notifies listeners, atomically. Events whose
// key is already in the log are skipped, so a retried writer adds nothing twice. It returns the
// last sequence number of the log.
func (s *Store) AppendTurnEvents(ctx context.Context, turnID uuid.UUID, events []models.TurnEvent) (int64, error) {
	keys := make([]string, len(events))
	types := make([]string, len(events))
	datas := make([][]byte, len(events))
	for i, e := range events {
		keys[i], types[i], datas[i] = e.Key, e.Type, e.Data
	}
	var out struct {
		Last     int64
		Inserted int64
	}
	args := map[string]any{"keys": pgArray[string](keys), "types": pgArray[string](types), "datas": pgArray[[]byte](datas), "turn": turnID, "channel": TurnEventsChannel}
	for attempt := 0; ; attempt++ {
		err := translate(s.q(ctx).Raw(appendEventsSQL, args).Scan(&out).Error)
		// Two writers racing with the same key: the loser's insert violates (turn_id, key) and
		// rolls back; run again and the key is skipped.
		if errors.Is(err, models.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return 0, err
		}
		if out.Last == 0 && out.Inserted == 0 && len(events) > 0 {
			var n int64
			if err := s.q(ctx).Model(&models.Turn{}).Where("id = ?", turnID).Count(&n).Error; err != nil {
				return 0, translate(err)
			}
			if n == 0 {
				return 0, models.NotFound("TURN", "turn")
			}
		}
		return out.Last, nil
	}
}

// TurnEventsAfter returns up to limit events of a turn with seq > after, in order.
func (s *Store) TurnEventsAfter(ctx context.Context, turnID uuid.UUID, after int64, limit int) ([]models.TurnEvent, error) {
	var out []models.TurnEvent
	err := s.q(ctx).Where("turn_id = ? AND seq > ?", turnID, after).Order("seq").Limit(limit).Find(&out).Error
	return out, translate(err)
}

// pgArray passes a slice as one Postgres array parameter (gorm would expand a plain slice into a
// value list).
type pgArray[T any] []T

// Value implements driver.Valuer; pgx encodes the slice as an array.
func (a pgArray[T]) Value() (driver.Value, error) { return []T(a), nil }
