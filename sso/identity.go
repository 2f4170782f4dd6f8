package sso

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
)

const (
	minUsername  = 3
	maxUsername  = 64
	maxName      = 100
	maxEmail     = 254
	maxGroupName = 128
	maxGroups    = 256
)

// identity reads the claims YouWorker uses from a verified ID token.
func (p *Provider) identity(t *oidc.IDToken) (Identity, error) {
	var c struct {
		Email             string          `json:"email"`
		EmailVerified     json.RawMessage `json:"email_verified"`
		PreferredUsername string          `json:"preferred_username"`
		Name              string          `json:"name"`
		GivenName         string          `json:"given_name"`
		FamilyName        string          `json:"family_name"`
	}
	if err := t.Claims(&c); err != nil {
		return Identity{}, fmt.Errorf("read id token claims: %w", err)
	}
	id := Identity{
		Issuer:        t.Issuer,
		Subject:       t.Subject,
		Email:         cleanEmail(c.Email),
		EmailVerified: isTrue(c.EmailVerified),
		Name:          cleanName(c.Name),
	}
	if id.Name == "" {
		id.Name = cleanName(strings.TrimSpace(c.GivenName + " " + c.FamilyName))
	}
	id.Username = sanitiseUsername(c.PreferredUsername)
	if id.Username == "" {
		local, _, _ := strings.Cut(id.Email, "@")
		id.Username = sanitiseUsername(local)
	}
	if id.Username == "" {
		sum := sha256.Sum256([]byte(t.Issuer + "\x00" + t.Subject))
		id.Username = "user-" + hex.EncodeToString(sum[:6])
	}
	if p.groupsClaim != "" {
		var all map[string]json.RawMessage
		if err := t.Claims(&all); err != nil {
			return Identity{}, fmt.Errorf("read id token claims: %w", err)
		}
		id.Groups = p.groups.apply(groupsFromClaim(all[p.groupsClaim]))
	}
	return id, nil
}

// isTrue accepts the JSON boolean true and, as some providers send it, the string "true".
func isTrue(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && strings.EqualFold(s, "true")
}

// groupsFromClaim accepts an array of strings (other elements are skipped) or a single string.
func groupsFromClaim(raw json.RawMessage) []string {
	var list []any
	if json.Unmarshal(raw, &list) == nil {
		out := make([]string, 0, len(list))
		for _, v := range list {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	return nil
}

// sanitiseUsername replaces each run of characters outside [A-Za-z0-9._-] with '_', trims
// separators from both ends so the name starts and ends with a letter or digit, and cuts it to 64
// bytes. It returns "" when fewer than 3 characters remain.
func sanitiseUsername(s string) string {
	var b strings.Builder
	lastBad := false
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'):
			b.WriteRune(r)
			lastBad = false
		case !lastBad:
			b.WriteByte('_')
			lastBad = true
		}
	}
	out := strings.Trim(b.String(), "._-")
	if len(out) > maxUsername {
		out = strings.TrimRight(out[:maxUsername], "._-")
	}
	if len(out) < minUsername {
		return ""
	}
	return out
}

// cleanName drops control and format characters, collapses whitespace and cuts to 100 characters.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == utf8.RuneError:
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxName {
		s = strings.TrimSpace(string([]rune(s)[:maxName]))
	}
	return s
}

// cleanEmail returns s trimmed when it is a bare address of at most 254 bytes, else "".
func cleanEmail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxEmail {
		return ""
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return ""
	}
	return s
}

// groupFilter maps provider group names to YouWorker names and drops groups not allowed.
type groupFilter struct {
	rename  map[string]string
	allowed map[string]bool // nil = all
}

func newGroupFilter(rename map[string]string, allowed []string) groupFilter {
	f := groupFilter{rename: rename}
	if len(allowed) > 0 {
		f.allowed = make(map[string]bool, len(allowed)+len(rename))
		for _, g := range allowed {
			f.allowed[g] = true
		}
		for g := range rename {
			f.allowed[g] = true
		}
	}
	return f
}

// apply returns the allowed groups, renamed, trimmed, deduplicated, in their first order; names
// that are empty or longer than 128 characters are dropped, and at most 256 groups are kept.
func (f groupFilter) apply(groups []string) []string {
	out := make([]string, 0, len(groups))
	seen := make(map[string]bool, len(groups))
	for _, g := range groups {
		g = strings.TrimSpace(g)
		if g == "" || f.allowed != nil && !f.allowed[g] {
			continue
		}
		if to, ok := f.rename[g]; ok {
			g = strings.TrimSpace(to)
		}
		if g == "" || utf8.RuneCountInString(g) > maxGroupName || !utf8.ValidString(g) || seen[g] {
			continue
		}
		seen[g] = true
		out = append(out, g)
		if len(out) == maxGroups {
			break
		}
	}
	return out
}
