package models

import (
	"slices"

	"github.com/google/uuid"
)

// AuthMethod says how a caller proved who they are.
type AuthMethod string

const (
	AuthCookie AuthMethod = "cookie"
	AuthBearer AuthMethod = "bearer"
	AuthAPIKey AuthMethod = "api_key"
	AuthProxy  AuthMethod = "proxy" // an authenticating proxy vouched for the user (trusted-header mode)
)

// Caller is the authenticated subject of a request. It is built by one API middleware from a
// token or key and fresh group memberships, and every store query on user-owned objects takes it.
type Caller struct {
	UserID   uuid.UUID
	Username string
	IsAdmin  bool
	Method   AuthMethod
	// SessionID identifies the login (the refresh-token family) for cookie and bearer callers;
	// CSRF tokens are bound to it. Zero for API keys.
	SessionID uuid.UUID
	// Groups maps each group the caller belongs to onto their role there, read per request.
	Groups map[uuid.UUID]Role
}

// GroupIDs returns the caller's groups in a stable order.
func (c Caller) GroupIDs() []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(c.Groups))
	for id := range c.Groups {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return ids
}
