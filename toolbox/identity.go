package toolbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/youworker/youworker/keyring"
)

// Identity is who a tool call acts for. The worker passes it out of band, never through the
// model's arguments, so a prompt cannot make a tool act for someone else.
//
// The zero Identity (uuid.Nil user) is the platform itself: the catalog sends it on the requests
// that are not tool calls (connecting, listing tools, health checks). A tool that acts for a user
// must reject it.
type Identity struct {
	UserID   uuid.UUID
	GroupIDs []uuid.UUID
	TurnID   uuid.UUID
	// GroupScope, when set, is the group of the session the call is made in: everything the tool
	// returns is read by every member, so a tool reading the user's data reads only the group's.
	GroupScope *uuid.UUID
}

// IdentityHeader carries the signed Identity (a JWT) on every HTTP request to a built-in server.
const IdentityHeader = "X-YouWorker-Identity"

// identityAudience is the aud claim of identity tokens, so that no other token signed with the
// same secret passes as one.
const identityAudience = "youworker-mcp"

const identityIssuer = "youworker"

// maxIdentityToken bounds the header before it is parsed.
const maxIdentityToken = 8 << 10

// identityLeeway absorbs clock skew between the worker and the MCP servers.
const identityLeeway = 5 * time.Second

var (
	// ErrNoIdentity means the request carries no identity header.
	ErrNoIdentity = errors.New("toolbox: no " + IdentityHeader + " header")
	// ErrInvalidIdentity means the identity token is malformed, forged, expired or for another audience.
	ErrInvalidIdentity = errors.New("toolbox: invalid identity token")
)

type identityClaims struct {
	Groups []string `json:"groups,omitempty"`
	Turn   string   `json:"turn,omitempty"`
	Scope  string   `json:"scope_group,omitempty"`
	jwt.RegisteredClaims
}

// SignIdentity returns an HS256 JWT for id, valid for ttl, with audience "youworker-mcp", naming
// secret by its key id (kid).
func SignIdentity(secret []byte, id Identity, ttl time.Duration) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("toolbox: sign identity: empty secret")
	}
	if ttl <= 0 {
		return "", errors.New("toolbox: sign identity: ttl must be positive")
	}
	now := time.Now()
	claims := identityClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    identityIssuer,
			Subject:   id.UserID.String(),
			Audience:  jwt.ClaimStrings{identityAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	if id.TurnID != uuid.Nil {
		claims.Turn = id.TurnID.String()
	}
	for _, g := range id.GroupIDs {
		claims.Groups = append(claims.Groups, g.String())
	}
	if id.GroupScope != nil {
		claims.Scope = id.GroupScope.String()
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = keyring.ID(secret)
	token, err := tok.SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("toolbox: sign identity: %w", err)
	}
	return token, nil
}

// VerifyIdentity checks an identity token: HS256 only, signed with the one of keys its kid names
// (a rotation has two), audience "youworker-mcp", not expired (exp is required). Every failure
// wraps ErrInvalidIdentity.
func VerifyIdentity(keys [][]byte, token string) (Identity, error) {
	if len(keys) == 0 {
		return Identity{}, fmt.Errorf("%w: no key", ErrInvalidIdentity)
	}
	if len(token) > maxIdentityToken {
		return Identity{}, fmt.Errorf("%w: token longer than %d bytes", ErrInvalidIdentity, maxIdentityToken)
	}
	var claims identityClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			if k, ok := keyring.Ring(keys).Lookup(kid); ok && len(k) > 0 {
				return k, nil
			}
			return nil, errors.New("unknown key id")
		},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(identityAudience),
		jwt.WithIssuer(identityIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(identityLeeway),
	)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalidIdentity, err)
	}
	var id Identity
	if id.UserID, err = uuid.Parse(claims.Subject); err != nil {
		return Identity{}, fmt.Errorf("%w: subject: %w", ErrInvalidIdentity, err)
	}
	if claims.Turn != "" {
		if id.TurnID, err = uuid.Parse(claims.Turn); err != nil {
			return Identity{}, fmt.Errorf("%w: turn: %w", ErrInvalidIdentity, err)
		}
	}
	for _, g := range claims.Groups {
		gid, err := uuid.Parse(g)
		if err != nil {
			return Identity{}, fmt.Errorf("%w: group: %w", ErrInvalidIdentity, err)
		}
		id.GroupIDs = append(id.GroupIDs, gid)
	}
	if claims.Scope != "" {
		gid, err := uuid.Parse(claims.Scope)
		if err != nil {
			return Identity{}, fmt.Errorf("%w: scope group: %w", ErrInvalidIdentity, err)
		}
		id.GroupScope = &gid
	}
	return id, nil
}

// IdentityFromRequest verifies the IdentityHeader of r with keys. A missing header is ErrNoIdentity.
func IdentityFromRequest(keys [][]byte, r *http.Request) (Identity, error) {
	token := r.Header.Get(IdentityHeader)
	if token == "" {
		return Identity{}, ErrNoIdentity
	}
	return VerifyIdentity(keys, token)
}

type identityKey struct{}

// IdentityMiddleware guards one of our MCP servers: a request without a valid identity header is
// answered 401, any other goes to next with the Identity in its context. mcp-go's streamable HTTP
// server derives the tool handler's context from the request's context, so a tool handler reads
// the caller with IdentityFrom(ctx); no server.WithHTTPContextFunc is needed.
func IdentityMiddleware(keys [][]byte, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := IdentityFromRequest(keys, r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", "YouWorker-Identity")
			msg := "invalid " + IdentityHeader + " header"
			if errors.Is(err, ErrNoIdentity) {
				msg = "missing " + IdentityHeader + " header"
			}
			http.Error(w, msg, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// IdentityFrom returns the Identity IdentityMiddleware verified for the request ctx belongs to.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
