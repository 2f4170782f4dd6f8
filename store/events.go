package store

import (
	"context"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
)

// TurnEventsChannel is the Postgres NOTIFY channel announcing new turn events; the payload is the
// turn id.
const TurnEventsChannel = "yw_turn_events"

// AppendTurnEvents appends events to a turn's log and notifies listeners, in one transaction.
// Events whose key is already in the log are skipped, so a retried writer adds nothing twice.
// The turn row's lock orders writers: sequence numbers commit in order, without gaps a reader
// could skip. It returns the last sequence number of the log.
func (s *Store) AppendTurnEvents(ctx context.Context, turnID uuid.UUID, events []models.TurnEvent) (int64, error) {
	var last int64
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Raw(`SELECT event_seq FROM turns WHERE id = ? FOR UPDATE`, turnID).Scan(&last).Error; err != nil {
			return err
		}
		keys := make([]string, len(events))
		for i, e := range events {
			keys[i] = e.Key
		}
		var existing []string
		if err := tx.q(ctx).Model(&models.TurnEvent{}).Where("turn_id = ? AND key IN ?", turnID, keys).
			Pluck("key", &existing).Error; err != nil {
			return err
		}
		seen := make(map[string]bool, len(existing))
		for _, k := range existing {
			seen[k] = true
		}
		fresh := make([]models.TurnEvent, 0, len(events))
		for _, e := range events {
			if seen[e.Key] {
				continue
			}
			seen[e.Key] = true
			last++
			e.TurnID, e.Seq = turnID, last
			fresh = append(fresh, e)
		}
		if len(fresh) == 0 {
			return nil
		}
		if err := tx.q(ctx).Create(&fresh).Error; err != nil {
			return err
		}
		if err := tx.q(ctx).Exec(`UPDATE turns SET event_seq = ? WHERE id = ?`, last, turnID).Error; err != nil {
			return err
		}
		return tx.q(ctx).Exec(`SELECT pg_notify(?, ?)`, TurnEventsChannel, turnID.String()).Error
	})
	return last, err
}

// TurnEventsAfter returns up to limit events of a turn with seq > after, in order.
func (s *Store) TurnEventsAfter(ctx context.Context, turnID uuid.UUID, after int64, limit int) ([]models.TurnEvent, error) {
	var out []models.TurnEvent
	err := s.q(ctx).Where("turn_id = ? AND seq > ?", turnID, after).Order("seq").Limit(limit).Find(&out).Error
	return out, translate(err)
}
