package models

import (
	"slices"
	"time"

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
	// Scopes are what an API key may do; nil for every other method (a login may do everything).
	Scopes []Scope
	// AuthTime is when the user of a cookie or bearer login last proved who they are (the access
	// token's auth_time); zero for API keys and proxy callers.
	AuthTime time.Time
}

// Scope is a permission an API key carries.
type Scope string

// The scopes of API keys.
const (
	ScopeRead      Scope = "read"      // every read (GET) of the caller's objects, and searches
	ScopeChat      Scope = "chat"      // sessions, turns, approvals, cancels, chat completions
	ScopeDocuments Scope = "documents" // uploads, ingestion, document deletion, run cancels
	ScopeAdmin     Scope = "admin"     // groups and their members, MCP servers, group audit logs, key revocation, budgets
)

// AllScopes lists every scope, in the order they are shown.
var AllScopes = []Scope{ScopeChat, ScopeDocuments, ScopeRead, ScopeAdmin}

// DefaultScopes are a new API key's scopes when none are asked for: never admin.
var DefaultScopes = []Scope{ScopeChat, ScopeDocuments, ScopeRead}

// HasScope reports whether an API-key caller holds scope; callers that are not API keys hold all.
func (c Caller) HasScope(scope Scope) bool {
	return c.Method != AuthAPIKey || slices.Contains(c.Scopes, scope)
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
