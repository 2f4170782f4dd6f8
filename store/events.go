package store

import (
	"context"
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/youworker/youworker/models"
)

// Channels of the Postgres NOTIFYs announcing new events; see ParseNotification for the payload.
const (
	TurnEventsChannel = "yw_turn_events"
	RunEventsChannel  = "yw_run_events"
)

// CallersChannel announces (migration 00007's triggers) every change to a user, their logins or
// their memberships; the payload is the user's id.
const CallersChannel = "yw_callers"

// EventLog names an event log: the events table, its parent (which holds event_seq) and the
// notification channel. Both logs follow the same rules.
type EventLog struct {
	table, parent, fk, channel string
}

// The two event logs.
var (
	TurnLog = EventLog{table: "turn_events", parent: "turns", fk: "turn_id", channel: TurnEventsChannel}
	RunLog  = EventLog{table: "ingestion_events", parent: "ingestion_runs", fk: "run_id", channel: RunEventsChannel}
)

// Channel is the NOTIFY channel of the log.
func (l EventLog) Channel() string { return l.channel }

// alongside is what an append does besides appending, in the same statement: with, a data-
// modifying CTE run first; change, more columns to set on the parent row and the WHERE of that
// update; args, their arguments.
type alongside struct {
	with, change string
	args         map[string]any
}

// finishTurn is the change FinishTurn makes to the turn row with its closing events: the outcome,
// only while the turn runs.
const finishTurn = `, status = @status, error_code = @error_code, error_message = @error_message, steps = @steps,
        prompt_tokens = @prompt_tokens, completion_tokens = @completion_tokens, finished_at = @finished_at
    WHERE id = @id AND status IN ('running', 'waiting_approval')`

// putMessage stores a message with the events announcing it (unless its id exists).
const putMessage = `msg AS (
    INSERT INTO messages (id, session_id, turn_id, step, role, content, tool_calls, tool_call_id, tool_name, status)
    VALUES (@m_id, @m_session_id, @m_turn_id, @m_step, @m_role, @m_content, @m_tool_calls, @m_tool_call_id, @m_tool_name, @m_status)
    ON CONFLICT (id) DO NOTHING
), `

// maxNotifyPayload keeps a notification under Postgres's 8000-byte payload limit; larger batches
// of events are announced by the parent's id alone.
const maxNotifyPayload = 7900

// appendSQL appends events in one statement (one round trip): it skips keys already in the log,
// takes the parent row's lock to allocate gapless sequence numbers (so seq commits in order and a
// reader following "seq > last" never skips a row), inserts, and notifies listeners with the new
// events themselves when they fit in a notification. Postgres runs a data-modifying CTE (a.with)
// whether or not the rest reads it.
func (l EventLog) appendSQL(a alongside) string {
	change := a.change
	if change == "" {
		change = "\n    WHERE id = @id"
	}
	return fmt.Sprintf(`
WITH %[6]sinput AS (
    SELECT * FROM unnest(CAST(@keys AS text[]), CAST(@types AS text[]), CAST(@datas AS bytea[])) WITH ORDINALITY AS x(key, type, data, ord)
), firsts AS (
    SELECT DISTINCT ON (key) key, type, data, ord FROM input ORDER BY key, ord
), fresh AS (
    SELECT i.key, i.type, i.data, row_number() OVER (ORDER BY i.ord) AS rn
    FROM firsts i
    WHERE NOT EXISTS (SELECT 1 FROM %[1]s e WHERE e.%[3]s = @id AND e.key = i.key)
), bump AS (
    UPDATE %[2]s SET event_seq = event_seq + (SELECT count(*) FROM fresh)%[4]s
    RETURNING event_seq, event_seq - (SELECT count(*) FROM fresh) AS base
), ins AS (
    INSERT INTO %[1]s (%[3]s, seq, key, type, data)
    SELECT @id, bump.base + fresh.rn, fresh.key, fresh.type, fresh.data FROM fresh, bump
    RETURNING seq, key, type, data
), note AS (
    SELECT CAST(@id AS text) || ' ' || json_agg(json_build_object('s', seq, 'k', key, 't', type, 'd', encode(data, 'base64')) ORDER BY seq)::text AS payload
    FROM ins
)
SELECT bump.event_seq AS last,
       (SELECT count(*) FROM ins) AS inserted,
       (SELECT pg_notify(@channel, CASE WHEN octet_length(payload) <= %[5]d THEN payload ELSE CAST(@id AS text) END)
        FROM note WHERE payload IS NOT NULL) AS notified
FROM bump`, l.table, l.parent, l.fk, change, maxNotifyPayload, a.with)
}

// AppendEvents appends events to the log of parent id and notifies listeners, atomically. Events
// whose key is already in the log are skipped, so a retried writer adds nothing twice. It returns
// the last sequence number of the log.
func (s *Store) AppendEvents(ctx context.Context, log EventLog, id uuid.UUID, events []models.Event) (int64, error) {
	return s.appendEvents(ctx, log, id, events, alongside{})
}

// PutMessageWithEvents stores m unless a message with its id exists (a retry keeps the first) and
// appends events to its turn's log, in one statement: the events announcing a message never exist
// without it.
func (s *Store) PutMessageWithEvents(ctx context.Context, m *models.Message, events []models.Event) error {
	args, err := messageArgs(m)
	if err != nil {
		return err
	}
	_, err = s.appendEvents(ctx, TurnLog, *m.TurnID, events, alongside{with: putMessage, args: args})
	return err
}

// messageArgs are the named arguments of putMessage; only a message of a turn has them.
func messageArgs(m *models.Message) (map[string]any, error) {
	if m.TurnID == nil {
		return nil, fmt.Errorf("message %s has no turn", m.ID)
	}
	return map[string]any{
		"m_id": m.ID, "m_session_id": m.SessionID, "m_turn_id": *m.TurnID, "m_step": m.Step, "m_role": m.Role,
		"m_content": m.Content, "m_tool_calls": m.ToolCalls, "m_tool_call_id": m.ToolCallID, "m_tool_name": m.ToolName,
		"m_status": m.Status,
	}, nil
}

// appendEvents is AppendEvents with what else the statement does (see alongside).
func (s *Store) appendEvents(ctx context.Context, log EventLog, id uuid.UUID, events []models.Event, a alongside) (int64, error) {
	keys := make(pgArray[string], len(events))
	types := make(pgArray[string], len(events))
	datas := make(pgArray[[]byte], len(events))
	for i, e := range events {
		keys[i], types[i], datas[i] = e.Key, e.Type, e.Data
	}
	var out struct {
		Last     int64
		Inserted int64
	}
	args := map[string]any{"keys": keys, "types": types, "datas": datas, "id": id, "channel": log.channel}
	maps.Copy(args, a.args)
	query := log.appendSQL(a)
	for attempt := 0; ; attempt++ {
		var notified any // pg_notify's void
		err := translate(s.queryRow(ctx, query, args, &out.Last, &out.Inserted, &notified))
		// Two writers racing with the same key: the loser's insert violates (parent, key) and
		// rolls back; run again and the key is skipped.
		if errors.Is(err, models.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return 0, err
		}
		if out.Last == 0 && out.Inserted == 0 && (len(events) > 0 || a.change != "") {
			var n int64
			if err := s.q(ctx).Table(log.parent).Where("id = ?", id).Count(&n).Error; err != nil {
				return 0, translate(err)
			}
			if n == 0 {
				return 0, models.NotFound("EVENT_LOG", "event log")
			}
		}
		return out.Last, nil
	}
}

// EventsAfter returns up to limit events of parent id with seq > after, in order.
func (s *Store) EventsAfter(ctx context.Context, log EventLog, id uuid.UUID, after int64, limit int) ([]models.Event, error) {
	var out []models.Event
	err := s.q(ctx).Table(log.table).Select("seq, key, type, data, created_at").
		Where(log.fk+" = ? AND seq > ?", id, after).Order("seq").Limit(limit).Scan(&out).Error
	return out, translate(err)
}

// ParseNotification reads the payload of a notification on a log's channel: the parent's id, then
// (unless they did not fit) the appended events in seq order, their data as stored (sealed).
// Notifications are delivered in commit order, which is seq order for one parent.
func ParseNotification(payload string) (id uuid.UUID, events []models.Event, err error) {
	head, body, withEvents := strings.Cut(payload, " ")
	if id, err = uuid.Parse(head); err != nil || !withEvents {
		return id, nil, err
	}
	var raw []struct {
		S int64  `json:"s"`
		K string `json:"k"`
		T string `json:"t"`
		D string `json:"d"` // base64, with the line breaks Postgres puts in (the decoder skips them)
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		return id, nil, fmt.Errorf("notification payload: %w", err)
	}
	events = make([]models.Event, len(raw))
	for i, r := range raw {
		data, err := base64.StdEncoding.DecodeString(r.D)
		if err != nil {
			return id, nil, fmt.Errorf("notification payload: %w", err)
		}
		events[i] = models.Event{Seq: r.S, Key: r.K, Type: r.T, Data: data}
	}
	return id, events, nil
}

// pgArray passes a slice as one Postgres array parameter (gorm would expand a plain slice into a
// value list).
type pgArray[T any] []T

// Value implements driver.Valuer; pgx encodes the slice as an array.
func (a pgArray[T]) Value() (driver.Value, error) { return []T(a), nil }

// HasEvent reports whether the log of parent id holds an event with this key.
func (s *Store) HasEvent(ctx context.Context, log EventLog, id uuid.UUID, key string) (bool, error) {
	var n int64
	err := s.q(ctx).Table(log.table).Where(log.fk+" = ? AND key = ?", id, key).Count(&n).Error
	return n > 0, translate(err)
}

// Notifications are what one LISTEN connection hears, already parsed: the three channels the
// API follows (the turn and run logs, and caller changes).
type Notifications struct {
	// Ready is called once the connection listens (after every reconnect): notifications sent
	// while disconnected are lost, so whoever waits on them should look again.
	Ready func()
	// Closed is called when the connection is lost.
	Closed func()
	// Appended receives the events appended to a log's parent (nil when they did not fit in the
	// notification or could not be read: read the log).
	Appended func(id uuid.UUID, events []models.Event)
	// CallerChanged receives the id of a user whose account or memberships changed.
	CallerChanged func(userID uuid.UUID)
	// Unreadable receives a notification that could not be parsed at all.
	Unreadable func(channel string, err error)
}

// Listen opens one connection to dsn, LISTENs on the logs' channels and the callers channel, and
// hands what it hears to n until ctx ends or the connection fails (the error says why; callers
// reconnect). It is the receiving side of the NOTIFYs the appends and the users trigger send.
func Listen(ctx context.Context, dsn string, n Notifications) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, ch := range []string{TurnLog.Channel(), RunLog.Channel(), CallersChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	n.Ready()
	defer n.Closed()
	for {
		msg, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if msg.Channel == CallersChannel {
			if id, err := uuid.Parse(msg.Payload); err == nil {
				n.CallerChanged(id)
			}
			continue
		}
		id, events, err := ParseNotification(msg.Payload)
		if err != nil {
			n.Unreadable(msg.Channel, err)
			if id == uuid.Nil {
				continue
			}
			events = nil // the reader reads its log
		}
		n.Appended(id, events)
	}
}
