package api

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/youworker/youworker/models"
)

// routeRule is what a route asks of a caller beyond being authenticated.
type routeRule struct {
	// scopes: an API key needs one of them; none = any key (or the route needs no caller).
	scopes []models.Scope
	// login: API keys are refused; only a login (cookie or bearer token) or the proxy may call it.
	login bool
	// fresh: a login must have proved its user within REAUTH_WINDOW (see requireFresh).
	fresh bool
}

func anyOf(scopes ...models.Scope) routeRule { return routeRule{scopes: scopes} }

var (
	noScope    = routeRule{}                         // anonymous routes, and what a caller asks about themselves
	loginOnly  = routeRule{login: true}              // never an API key
	freshLogin = routeRule{login: true, fresh: true} // never an API key; a login that proved its user lately
)

// orRead is the scope s or read: the route only reads, so a read-only key may call it too.
func orRead(s models.Scope) routeRule { return anyOf(s, models.ScopeRead) }

// routeRules is the one table of what every route asks of API keys and how fresh a login must be.
// A key's scopes (models.Scope) are: read — every GET of what the caller may see (but a group's
// audit log), and searches (POST /v1/search only reads); chat — sessions, turns, approvals, cancels, chat completions;
// documents — uploads, ingestion, document deletion, run cancels; admin — groups and their members,
// group audit logs, MCP server registration and tool approval, revoking API keys, and setting
// budgets (which also takes a platform administrator). Reads of a domain need read or that
// domain's scope, so a chat key can follow its own turns. Minting keys,
// the export and deleting the account take a fresh login (never a key); so does linking single
// sign-on (GET /v1/auth/oidc/login?link=true, checked by its handler). The tools of the MCP
// endpoint (POST /mcp) are checked against the rules of the routes doing the same. A route missing here
// refuses every API key; TestRouteRulesCoverRoutes keeps the table complete.
var routeRules = map[string]routeRule{
	"GET /health":          noScope,
	"GET /health/detailed": noScope,
	"GET /openapi.json":    noScope,
	"GET /":                noScope,
	"GET /console/*path":   noScope,

	"POST /v1/auth/register":       noScope,
	"POST /v1/auth/login":          noScope,
	"POST /v1/auth/refresh":        noScope,
	"POST /v1/auth/logout":         noScope,
	"POST /v1/auth/reauthenticate": loginOnly,
	"GET /v1/auth/me":              noScope,
	"GET /v1/auth/csrf-token":      noScope,
	"GET /v1/auth/oidc/login":      noScope,
	"GET /v1/auth/oidc/callback":   noScope,

	"GET /v1/account":                 anyOf(models.ScopeRead),
	"DELETE /v1/account":              freshLogin,
	"POST /v1/account/api-keys":       freshLogin,
	"GET /v1/account/api-keys":        anyOf(models.ScopeRead, models.ScopeAdmin),
	"DELETE /v1/account/api-keys/:id": anyOf(models.ScopeAdmin),
	"GET /v1/account/audit":           anyOf(models.ScopeRead, models.ScopeAdmin),
	"GET /v1/account/export":          freshLogin,

	"POST /v1/groups":                              anyOf(models.ScopeAdmin),
	"GET /v1/groups/me":                            orRead(models.ScopeAdmin),
	"GET /v1/groups/:id":                           orRead(models.ScopeAdmin),
	"PUT /v1/groups/:id":                           anyOf(models.ScopeAdmin),
	"DELETE /v1/groups/:id":                        anyOf(models.ScopeAdmin),
	"POST /v1/groups/:id/members":                  anyOf(models.ScopeAdmin),
	"PUT /v1/groups/:id/members/:user_id":          anyOf(models.ScopeAdmin),
	"DELETE /v1/groups/:id/members/:user_id":       anyOf(models.ScopeAdmin),
	"GET /v1/groups/:id/audit":                     anyOf(models.ScopeAdmin),
	"GET /v1/groups/:id/budget":                    orRead(models.ScopeAdmin),
	"PUT /v1/groups/:id/budget":                    anyOf(models.ScopeAdmin),
	"DELETE /v1/groups/:id/budget":                 anyOf(models.ScopeAdmin),
	"POST /v1/mcp-servers":                         anyOf(models.ScopeAdmin),
	"GET /v1/mcp-servers":                          orRead(models.ScopeAdmin),
	"DELETE /v1/mcp-servers/:id":                   anyOf(models.ScopeAdmin),
	"POST /v1/mcp-servers/:id/tools/:tool/approve": anyOf(models.ScopeAdmin),

	// Budgets are set with the admin scope (and by platform administrators only); a chat key may
	// read what its own turns may still spend.
	"GET /v1/budgets/me":                orRead(models.ScopeChat),
	"GET /v1/budgets/users/:user_id":    orRead(models.ScopeAdmin),
	"PUT /v1/budgets/users/:user_id":    anyOf(models.ScopeAdmin),
	"DELETE /v1/budgets/users/:user_id": anyOf(models.ScopeAdmin),

	"POST /v1/sessions":                                       anyOf(models.ScopeChat),
	"GET /v1/sessions":                                        orRead(models.ScopeChat),
	"GET /v1/sessions/:id":                                    orRead(models.ScopeChat),
	"PATCH /v1/sessions/:id":                                  anyOf(models.ScopeChat),
	"DELETE /v1/sessions/:id":                                 anyOf(models.ScopeChat),
	"POST /v1/sessions/:id/messages":                          anyOf(models.ScopeChat),
	"GET /v1/sessions/:id/turns/:turn_id":                     orRead(models.ScopeChat),
	"GET /v1/sessions/:id/turns/:turn_id/events":              orRead(models.ScopeChat),
	"POST /v1/sessions/:id/turns/:turn_id/cancel":             anyOf(models.ScopeChat),
	"POST /v1/sessions/:id/turns/:turn_id/approvals/:call_id": anyOf(models.ScopeChat),
	"POST /v1/sessions/:id/turns/:turn_id/regenerate":         anyOf(models.ScopeChat),
	"POST /v1/sessions/:id/messages/:message_id/edit":         anyOf(models.ScopeChat),
	"PUT /v1/sessions/:id/active-branch":                      anyOf(models.ScopeChat),
	"GET /v1/tool-runs":                                       orRead(models.ScopeChat),
	"POST /v1/chat/completions":                               anyOf(models.ScopeChat),
	"GET /v1/models":                                          orRead(models.ScopeChat),
	"GET /v1/models/*id":                                      orRead(models.ScopeChat),
	"GET /v1/tools":                                           orRead(models.ScopeChat),
	"POST /v1/audio/transcriptions":                           anyOf(models.ScopeChat),

	"POST /v1/documents":                 anyOf(models.ScopeDocuments),
	"GET /v1/documents":                  orRead(models.ScopeDocuments),
	"GET /v1/documents/:id":              orRead(models.ScopeDocuments),
	"DELETE /v1/documents/:id":           anyOf(models.ScopeDocuments),
	"POST /v1/ingest":                    anyOf(models.ScopeDocuments),
	"GET /v1/ingestion-runs":             orRead(models.ScopeDocuments),
	"GET /v1/ingestion-runs/:id":         orRead(models.ScopeDocuments),
	"GET /v1/ingestion-runs/:id/events":  orRead(models.ScopeDocuments),
	"POST /v1/ingestion-runs/:id/cancel": anyOf(models.ScopeDocuments),
	"POST /v1/search":                    orRead(models.ScopeDocuments),

	// Analytics only read: the caller's own data, or a group's for its admins (?group_id=).
	"GET /v1/analytics/overview":         anyOf(models.ScopeRead),
	"GET /v1/analytics/tokens-timeline":  anyOf(models.ScopeRead),
	"GET /v1/analytics/tool-performance": anyOf(models.ScopeRead),
	"GET /v1/analytics/tool-timeline":    anyOf(models.ScopeRead),
	"GET /v1/analytics/ingestion-stats":  anyOf(models.ScopeRead),
	"GET /v1/analytics/session-activity": anyOf(models.ScopeRead),

	// The MCP endpoint takes any key that may read documents; each tool then needs the scope of
	// the route doing the same (mcpTools), so a read-only key searches but cannot ingest.
	"POST /mcp": orRead(models.ScopeDocuments),
}

// authorize applies routeRules to the caller authenticate established (anonymous requests pass:
// the routes that need a caller say so with requireCaller).
func (s *Server) authorize() gin.HandlerFunc {
	return func(c *gin.Context) {
		v, ok := c.Get(callerKey)
		if !ok || c.FullPath() == "" { // anonymous, or no route (404/405 follow)
			c.Next()
			return
		}
		if err := s.permit(v.(models.Caller), c.Request.Method+" "+c.FullPath()); err != nil {
			s.fail(c, err)
			return
		}
		c.Next()
	}
}

// permit checks the caller against the rule of route ("METHOD /path" as in routeRules): for a
// request, the route it matched; for a tool of the MCP endpoint, the route doing the same.
func (s *Server) permit(caller models.Caller, route string) error {
	rule, known := routeRules[route]
	if !known {
		rule = loginOnly // fail closed for keys; the table test keeps this from happening
	}
	if caller.Method == models.AuthAPIKey {
		if rule.login {
			return errAPIKeyRefused
		}
		if len(rule.scopes) > 0 && !hasAnyScope(caller, rule.scopes) {
			return insufficientScope(rule.scopes)
		}
	}
	if rule.fresh {
		return s.requireFresh(caller)
	}
	return nil
}

var errAPIKeyRefused = models.Errorf(models.ErrForbidden, "API_KEY_NOT_ALLOWED",
	"an API key cannot do this; log in (password or single sign-on) instead")

func hasAnyScope(c models.Caller, scopes []models.Scope) bool {
	for _, sc := range scopes {
		if c.HasScope(sc) {
			return true
		}
	}
	return false
}

func insufficientScope(need []models.Scope) error {
	names := make([]string, len(need))
	for i, sc := range need {
		names[i] = string(sc)
	}
	what := "the " + names[0] + " scope"
	if len(names) > 1 {
		what = "one of the scopes " + strings.Join(names, ", ")
	}
	return models.Errorf(models.ErrForbidden, "INSUFFICIENT_SCOPE", "this API key needs %s", what).
		WithDetails(map[string]any{"required_scopes": names})
}

// requireFresh checks that the caller's login proved who its user is within REAUTH_WINDOW, the
// condition of the sensitive routes: a stolen cookie or token alone then does not suffice to
// mint keys, take the export or delete the account. API keys never qualify. Proxy callers
// qualify only when TRUSTED_HEADER_SENSITIVE says the proxy re-authenticates its users itself:
// its headers say who the user is, never when they last proved it.
func (s *Server) requireFresh(caller models.Caller) error {
	switch caller.Method {
	case models.AuthAPIKey:
		return errAPIKeyRefused
	case models.AuthProxy:
		if s.cfg.ProxySensitive {
			return nil
		}
		return models.Errorf(models.ErrForbidden, "PROXY_NOT_ALLOWED",
			"this action is not available through the authenticating proxy on this server")
	}
	age := s.now().Sub(caller.AuthTime)
	if caller.AuthTime.IsZero() || age > s.cfg.ReauthWindow {
		return models.Errorf(models.ErrForbidden, "REAUTH_REQUIRED",
			"confirm your password first (POST /v1/auth/reauthenticate) or sign in again with single sign-on").
			WithDetails(map[string]any{"max_age_seconds": int(s.cfg.ReauthWindow.Seconds())})
	}
	return nil
}
