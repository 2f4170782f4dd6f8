package chat

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/workflows"
)

// MaxIdempotencyKey bounds an Idempotency-Key header.
const MaxIdempotencyKey = 200

// Service posts user messages and starts their turns. The native route
// (POST /v1/sessions/:id/messages) and the OpenAI-compatible one (POST /v1/chat/completions) both
// go through Post: one validation, one store write, one workflow start, one compensation.
type Service struct {
	Store    *store.Store
	Box      *encryption.Box
	Temporal client.Client
	Reaper   *Reaper
	// TaskQueue is the worker's task queue; Limits bound every turn.
	TaskQueue string
	Limits    workflows.TurnLimits
	// MaxMessageChars bounds a message's length in characters (MAX_MESSAGE_CHARS).
	MaxMessageChars int
	Now             func() time.Time
	Log             *slog.Logger
}

// Message is a user message to post.
type Message struct {
	SessionID uuid.UUID
	Content   string
	// IdempotencyKey, when set, makes a retried post find the turn the first one started.
	IdempotencyKey string
	// Options are the model's sampling options for this turn (workflows.ChatTurnInput.Options).
	Options map[string]any
	// Images go with the message to the model (raw bytes); a message with images may have no text.
	Images [][]byte
	// Continue starts a turn without a new message (Content and Images must be empty): the model
	// answers the session's conversation as it is, e.g. after the results of a client's tool calls.
	Continue bool
	// Branch is where the turn goes in the session's tree (zero: the end of the active branch);
	// Regenerate and Edit set it.
	Branch store.Branch
	// BeforeStart, when set, is called with a new turn's id once the turn is stored and before its
	// workflow starts, when nothing can have been written to its event log yet: a stream that
	// subscribes to the log there needs no first read of it. Not called for a turn an
	// idempotency key found.
	BeforeStart func(turnID uuid.UUID)
}

// ValidateContent checks a message's content: not blank, at most MaxMessageChars characters.
// field names it in the error (content, messages[2].content, …).
func (s *Service) ValidateContent(field, content string) error {
	if strings.TrimSpace(content) == "" {
		return models.Invalid(field, "%s must not be empty", field)
	}
	return s.ValidateLength(field, content)
}

// ValidateLength checks that content is at most MaxMessageChars characters (earlier messages of
// an imported conversation may be empty, not longer).
func (s *Service) ValidateLength(field, content string) error {
	if n := utf8.RuneCountInString(content); n > s.MaxMessageChars {
		return models.Invalid(field, "%s is %d characters; the limit is %d", field, n, s.MaxMessageChars)
	}
	return nil
}

// Post stores the message with a running turn and starts the turn's workflow. created is false
// when the idempotency key found an earlier turn (returned as it is; its workflow is started
// again if it was not, which repairs a crash between storing and starting).
func (s *Service) Post(ctx context.Context, caller models.Caller, m Message) (t *models.Turn, created bool, err error) {
	switch {
	case m.Continue:
		if m.Content != "" || len(m.Images) > 0 {
			return nil, false, models.Invalid("content", "a continued turn takes no new message")
		}
	case len(m.Images) > 0:
		if err := s.ValidateLength("content", m.Content); err != nil {
			return nil, false, err
		}
	default:
		if err := s.ValidateContent("content", m.Content); err != nil {
			return nil, false, err
		}
	}
	turn := &models.Turn{ID: uuid.New(), Status: models.TurnRunning, StartedAt: s.Now()}
	if key := m.IdempotencyKey; key != "" {
		if len(key) > MaxIdempotencyKey {
			return nil, false, models.Invalid("Idempotency-Key", "Idempotency-Key must be at most %d characters", MaxIdempotencyKey)
		}
		turn.IdempotencyKey = &key
		turn.ID = uuid.NewSHA1(m.SessionID, []byte("idempotency/"+key))
	}
	turn.WorkflowID = workflows.ChatTurnID(m.SessionID.String(), turn.ID.String())
	var sealed, images []byte
	if !m.Continue {
		mid := models.MessageID(turn.ID, models.RoleUser, 0, "")
		var err error
		if sealed, err = s.Box.EncryptString(store.MessageContent(mid), m.Content); err != nil {
			return nil, false, err
		}
		if images, err = store.SealImages(s.Box, mid, m.Images); err != nil {
			return nil, false, err
		}
	}
	t0 := time.Now()
	t, groupID, created, err := s.storeTurn(ctx, caller, m.SessionID, turn, sealed, images, m.Branch, s.Store.StartTurnUnlessBudgeted)
	if errors.Is(err, store.ErrBudgetsApply) {
		// A budget applies: check it, then store the turn (one round trip more, for budgeted
		// callers only).
		if err := s.checkBudget(ctx, caller, m.SessionID, turn); err != nil {
			return nil, false, err
		}
		t, groupID, created, err = s.storeTurn(ctx, caller, m.SessionID, turn, sealed, images, m.Branch, s.Store.StartTurnOn)
	}
	if err != nil {
		return nil, false, err
	}
	t1 := time.Now()
	if created && m.BeforeStart != nil {
		m.BeforeStart(t.ID)
	}
	if !t.Finished() {
		if err := s.startWorkflow(ctx, t, groupID, m.Options); err != nil {
			return nil, false, err
		}
	}
	s.Log.DebugContext(ctx, "turn started", "turn_id", t.ID, "created", created, "store", t1.Sub(t0), "temporal", time.Since(t1))
	return t, created, nil
}

// checkBudget refuses a turn (429 BUDGET_EXCEEDED) when a budget of the caller or of the
// session's group is spent, before anything is stored. A retried post whose turn exists already
// gets that turn, and a caller who cannot see the session learns nothing about its group's budget.
func (s *Service) checkBudget(ctx context.Context, caller models.Caller, sessionID uuid.UUID, turn *models.Turn) error {
	err := s.Store.CheckBudget(ctx, caller.UserID, sessionID, s.Now())
	if err == nil || !store.IsBudgetExceeded(err) {
		return err
	}
	if _, serr := s.Store.Session(ctx, caller, sessionID); serr != nil {
		return serr
	}
	if turn.IdempotencyKey != nil {
		if t, terr := s.Store.Turn(ctx, turn.ID); terr == nil && t.SessionID == sessionID {
			return nil
		}
	}
	return err
}

// storeTurn stores the user's message and a running turn (store.StartTurn). When another turn of
// the session seems to run but its workflow is gone (a crash between storing a turn and starting
// its workflow, a workflow that ended without recording the outcome), that turn is failed with
// TURN_LOST and the message is stored: a session is never blocked by a turn nothing will finish.
func (s *Service) storeTurn(ctx context.Context, caller models.Caller, sessionID uuid.UUID, turn *models.Turn, sealed, images []byte, b store.Branch, start startFunc) (*models.Turn, *uuid.UUID, bool, error) {
	t, groupID, created, err := start(ctx, caller, sessionID, turn, sealed, images, b)
	if !errors.Is(err, store.ErrTurnInProgress) || !s.ReapActive(ctx, sessionID, Lost) {
		return t, groupID, created, err
	}
	return start(ctx, caller, sessionID, turn, sealed, images, b)
}

// startFunc is store.StartTurnOn or store.StartTurnUnlessBudgeted.
type startFunc func(ctx context.Context, c models.Caller, sessionID uuid.UUID, t *models.Turn, content, images []byte, b store.Branch) (*models.Turn, *uuid.UUID, bool, error)

// ReapActive finishes the session's unfinished turn with o if its workflow is gone, and reports
// whether it did (false also when Temporal cannot tell: the conflict then stands).
func (s *Service) ReapActive(ctx context.Context, sessionID uuid.UUID, o models.TurnOutcome) bool {
	active, err := s.Store.ActiveTurn(ctx, sessionID)
	if err != nil {
		return false
	}
	finished, err := s.Reaper.Finish(ctx, active, o)
	if err != nil && !errors.Is(err, ErrWorkflowRunning) {
		s.Log.WarnContext(ctx, "checking a running turn's workflow failed", "turn_id", active.ID, "error", err)
	}
	return finished
}

// startWorkflow starts ChatTurn for t. Starting is idempotent (the id derives from the turn,
// USE_EXISTING while it runs, REJECT_DUPLICATE after), so a retried request that finds the turn
// already stored re-runs this safely. When Temporal cannot be reached the turn is failed (the
// message is kept) and the caller gets 503. Search attributes and memo hold ids only: operators
// find a user's, a group's or a session's turns without seeing what anyone wrote.
func (s *Service) startWorkflow(ctx context.Context, t *models.Turn, groupID *uuid.UUID, options map[string]any) error {
	attrs := []temporal.SearchAttributeUpdate{
		temporal.NewSearchAttributeKeyKeyword(workflows.AttrUserID).ValueSet(t.UserID.String()),
		temporal.NewSearchAttributeKeyKeyword(workflows.AttrSessionID).ValueSet(t.SessionID.String()),
		temporal.NewSearchAttributeKeyKeyword(workflows.AttrModel).ValueSet(t.Model),
		temporal.NewSearchAttributeKeyKeyword(workflows.AttrStatus).ValueSet(models.TurnRunning),
	}
	if groupID != nil {
		attrs = append(attrs, temporal.NewSearchAttributeKeyKeyword(workflows.AttrGroupID).ValueSet(groupID.String()))
	}
	opts := client.StartWorkflowOptions{
		ID:                    t.WorkflowID,
		TaskQueue:             s.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
		Memo:                  map[string]any{"turn_id": t.ID.String()},
	}
	in := workflows.ChatTurnInput{TurnID: t.ID, SessionID: t.SessionID, UserID: t.UserID, Limits: s.Limits, Options: options,
		Shape: workflows.ChatTurnShape}
	err := workflows.Start(ctx, s.Temporal, opts, workflows.ChatTurn, in)
	if err == nil {
		return nil
	}
	s.Log.ErrorContext(ctx, "starting turn workflow failed", "turn_id", t.ID, "error", err)
	failCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	// If this fails too (Postgres is down as well), the reaper fails the turn later.
	if _, ferr := s.Reaper.End(failCtx, t.ID, models.TurnOutcome{Status: models.TurnFailed, ErrorCode: models.CodeTemporalUnavailable,
		ErrorMessage: "the workflow service is unavailable; your message is kept, please send it again"}); ferr != nil {
		s.Log.ErrorContext(ctx, "failing a turn whose workflow did not start failed", "turn_id", t.ID, "error", ferr)
	}
	return err
}
