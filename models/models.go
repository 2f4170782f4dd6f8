// Package models holds YouWorker's domain types (the gorm rows), their states and the domain
// errors. It imports neither gin nor Temporal.
package models

import (
	"time"

	"github.com/google/uuid"
)

// Role is a member's role in a group.
type Role string

const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleMember }

// User is an account. PasswordHash is an argon2id PHC string, nil for SSO-only accounts.
type User struct {
	ID           uuid.UUID `gorm:"type:uuid;primaryKey"`
	Username     string
	Email        *string
	DisplayName  string
	PasswordHash *string
	OIDCIssuer   *string `gorm:"column:oidc_issuer"`
	OIDCSubject  *string `gorm:"column:oidc_subject"`
	IsAdmin      bool
	DisabledAt   *time.Time
	LastLoginAt  *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time

	// EmailVerifiedAt is when the email was shown to belong to the user (an identity provider's
	// verified email claim); nil for an email nobody verified, such as a local registration's.
	EmailVerifiedAt *time.Time
}

// APIKey is a long-lived credential "yw_<id>_<secret>"; only the SHA-256 of the secret is kept.
type APIKey struct {
	ID         uuid.UUID `gorm:"type:uuid;primaryKey"`
	UserID     uuid.UUID `gorm:"type:uuid"`
	Name       string
	SecretHash []byte
	LastFour   string
	Scopes     Strings `gorm:"type:text[]"` // what the key may do (models.Scope values); never empty
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// RefreshToken is one link of a rotating refresh-token family (one login).
type RefreshToken struct {
	ID         uuid.UUID `gorm:"type:uuid;primaryKey"`
	UserID     uuid.UUID `gorm:"type:uuid"`
	FamilyID   uuid.UUID `gorm:"type:uuid"`
	TokenHash  []byte
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	ReplacedBy *uuid.UUID `gorm:"type:uuid"`
	UserAgent  string
	IP         string `gorm:"column:ip"`
	CreatedAt  time.Time
	UpdatedAt  time.Time

	// AuthTime is when the user of this login last proved who they are (password, single sign-on,
	// reauthentication); rotation carries it over. Nil for logins made before it was recorded.
	AuthTime *time.Time
}

// Group is a team that shares sessions, documents and tool servers.
type Group struct {
	ID          uuid.UUID `gorm:"type:uuid;primaryKey"`
	Name        string
	Description string
	CreatedBy   *uuid.UUID `gorm:"type:uuid"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// GroupMembership is a user's role in a group.
type GroupMembership struct {
	GroupID   uuid.UUID `gorm:"type:uuid;primaryKey"`
	UserID    uuid.UUID `gorm:"type:uuid;primaryKey"`
	Role      Role
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	ID           int64      `gorm:"primaryKey;->"`
	ActorID      *uuid.UUID `gorm:"type:uuid"`
	Action       string
	ResourceType string
	ResourceID   string
	GroupID      *uuid.UUID `gorm:"type:uuid"`
	Outcome      string
	IP           string `gorm:"column:ip"`
	UserAgent    string
	RequestID    string
	Details      JSONMap `gorm:"type:jsonb"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// TableName implements gorm's tabler.
func (AuditEntry) TableName() string { return "audit_log" }

// MCPServer is a tool server a user registered (streamable HTTP only: never a command to run).
// Tools maps each tool name onto its approval state.
type MCPServer struct {
	ID               uuid.UUID  `gorm:"type:uuid;primaryKey"`
	OwnerID          *uuid.UUID `gorm:"type:uuid"`
	GroupID          *uuid.UUID `gorm:"type:uuid"`
	Name             string
	URL              string `gorm:"column:url"`
	Builtin          bool
	RequiresApproval bool
	TimeoutMS        int `gorm:"column:timeout_ms"`
	Enabled          bool
	Tools            JSONMap `gorm:"type:jsonb"`
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// TableName implements gorm's tabler.
func (MCPServer) TableName() string { return "mcp_servers" }

// ToolApproval is the state of one tool of a registered server, kept in MCPServer.Tools. A tool
// whose description no longer hashes to ApprovedSHA256 is disabled until its owner approves the
// new one: a server cannot change what a tool claims to do behind its users' back.
type ToolApproval struct {
	Description    string `json:"description"`
	ApprovedSHA256 string `json:"approved_sha256"`
	PendingSHA256  string `json:"pending_sha256,omitempty"`
	PendingText    string `json:"pending_description,omitempty"`
}
