// Package caller rebuilds the caller of a tool call on the built-in MCP servers.
package caller

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
)

// ErrNoCaller is the tool error when a call carries no user identity (the worker signs one for
// every agent turn; a model cannot supply or change it).
var ErrNoCaller = errors.New("this tool acts for a user, and no signed user identity came with the call")

// From rebuilds the caller of a tool call from the identity the worker signed, with group
// memberships read now from Postgres: a member removed from a group a moment ago is no longer one.
func From(ctx context.Context, st *store.Store) (models.Caller, error) {
	id, ok := toolbox.IdentityFrom(ctx)
	if !ok || id.UserID == uuid.Nil {
		return models.Caller{}, ErrNoCaller
	}
	state, err := st.LoadCaller(ctx, id.UserID, uuid.Nil)
	if err != nil {
		return models.Caller{}, err
	}
	return models.Caller{UserID: id.UserID, Username: state.User.Username, Groups: state.Groups}, nil
}

// Scope is the group of the session the call was made in (toolbox.Identity.GroupScope), nil in a
// personal session: a tool that reads the user's data reads only that group's in a group session,
// because every member reads what it returns.
func Scope(ctx context.Context) *uuid.UUID {
	id, _ := toolbox.IdentityFrom(ctx)
	return id.GroupScope
}
