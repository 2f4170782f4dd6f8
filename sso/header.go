package sso

import (
	"net/http"
	"strings"
)

// HeaderIssuer is the Issuer of identities read from trusted proxy headers.
const HeaderIssuer = "trusted-header"

// HeaderConfig names the headers an authenticating proxy sets; "" selects the Authentik outpost's.
type HeaderConfig struct {
	UserHeader   string // default "X-authentik-username"
	EmailHeader  string // default "X-authentik-email"
	GroupsHeader string // default "X-authentik-groups"; names separated by '|' or ','
	NameHeader   string // default "X-authentik-name"
	// GroupMap and AllowedGroups filter groups as in Config.
	GroupMap      map[string]string
	AllowedGroups []string
}

// maxHeaderUser bounds the raw user header, which becomes the Subject.
const maxHeaderUser = 256

// IdentityFromHeaders reads the identity an authenticating proxy asserts. It reports false when
// the user header is absent, repeated, too long, holds control characters or does not sanitise to
// a valid username. Only call it for requests that came through the trusted proxy, which must
// strip these headers from what clients send.
//
// The Subject is the user header as sent (trimmed), so two proxy users never share a Subject even
// when their usernames sanitise alike. A repeated email, name or groups header is ignored; groups
// are nil when the groups header is absent. EmailVerified is always false: the proxy asserts an
// address, not that it was verified.
func IdentityFromHeaders(h http.Header, c HeaderConfig) (Identity, bool) {
	user, ok := single(h, or(c.UserHeader, "X-authentik-username"))
	user = strings.TrimSpace(user)
	if !ok || user == "" || len(user) > maxHeaderUser || strings.ContainsFunc(user, isCtl) {
		return Identity{}, false
	}
	username := sanitiseUsername(user)
	if username == "" {
		return Identity{}, false
	}
	id := Identity{Issuer: HeaderIssuer, Subject: user, Username: username}
	if email, ok := single(h, or(c.EmailHeader, "X-authentik-email")); ok {
		id.Email = cleanEmail(email)
	}
	if name, ok := single(h, or(c.NameHeader, "X-authentik-name")); ok {
		id.Name = cleanName(name)
	}
	if groups, ok := single(h, or(c.GroupsHeader, "X-authentik-groups")); ok {
		split := strings.FieldsFunc(groups, func(r rune) bool { return r == '|' || r == ',' })
		id.Groups = newGroupFilter(c.GroupMap, c.AllowedGroups).apply(split)
	}
	return id, true
}

// single returns the header's value when it is sent exactly once: a second copy may have been
// appended by a client to what the proxy set.
func single(h http.Header, name string) (string, bool) {
	v := h.Values(name)
	if len(v) != 1 {
		return "", false
	}
	return v[0], true
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func isCtl(r rune) bool { return r < ' ' || r == 0x7f }
