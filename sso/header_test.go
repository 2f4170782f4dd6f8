package sso_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/sso"
)

func TestIdentityFromHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers map[string][]string
		config  sso.HeaderConfig
		want    sso.Identity
		wantOK  bool
	}{
		{
			name: "authentik outpost headers",
			headers: map[string][]string{
				"X-Authentik-Username": {"jane"},
				"X-Authentik-Email":    {"jane@example.com"},
				"X-Authentik-Name":     {"Jane Doe"},
				"X-Authentik-Groups":   {"admins|staff"},
			},
			want: sso.Identity{Issuer: sso.HeaderIssuer, Subject: "jane", Username: "jane",
				Email: "jane@example.com", Name: "Jane Doe", Groups: []string{"admins", "staff"}},
			wantOK: true,
		},
		{
			name:    "comma separated groups",
			headers: map[string][]string{"X-Authentik-Username": {"jane"}, "X-Authentik-Groups": {"admins, staff ,"}},
			want:    sso.Identity{Issuer: sso.HeaderIssuer, Subject: "jane", Username: "jane", Groups: []string{"admins", "staff"}},
			wantOK:  true,
		},
		{
			name:    "mixed separators, duplicates",
			headers: map[string][]string{"X-Authentik-Username": {"jane"}, "X-Authentik-Groups": {"a|b,c||a"}},
			want:    sso.Identity{Issuer: sso.HeaderIssuer, Subject: "jane", Username: "jane", Groups: []string{"a", "b", "c"}},
			wantOK:  true,
		},
		{
			name:    "empty groups header: no groups",
			headers: map[string][]string{"X-Authentik-Username": {"jane"}, "X-Authentik-Groups": {""}},
			want:    sso.Identity{Issuer: sso.HeaderIssuer, Subject: "jane", Username: "jane", Groups: []string{}},
			wantOK:  true,
		},
		{
			name:    "no groups header: groups unknown",
			headers: map[string][]string{"X-Authentik-Username": {"jane"}},
			want:    sso.Identity{Issuer: sso.HeaderIssuer, Subject: "jane", Username: "jane"},
			wantOK:  true,
		},
		{
			name:    "repeated groups header ignored",
			headers: map[string][]string{"X-Authentik-Username": {"jane"}, "X-Authentik-Groups": {"staff", "admins"}},
			want:    sso.Identity{Issuer: sso.HeaderIssuer, Subject: "jane", Username: "jane"},
			wantOK:  true,
		},
		{
			name:    "groups filtered and mapped",
			headers: map[string][]string{"X-Authentik-Username": {"jane"}, "X-Authentik-Groups": {"authentik Admins|staff|contractors"}},
			config:  sso.HeaderConfig{GroupMap: map[string]string{"authentik Admins": "admins"}, AllowedGroups: []string{"staff"}},
			want:    sso.Identity{Issuer: sso.HeaderIssuer, Subject: "jane", Username: "jane", Groups: []string{"admins", "staff"}},
			wantOK:  true,
		},
		{
			name:    "username sanitised, subject kept",
			headers: map[string][]string{"X-Authentik-Username": {" Jane Doé "}},
			want:    sso.Identity{Issuer: sso.HeaderIssuer, Subject: "Jane Doé", Username: "Jane_Do"},
			wantOK:  true,
		},
		{
			name:    "email as username",
			headers: map[string][]string{"X-Authentik-Username": {"jane@example.com"}},
			want:    sso.Identity{Issuer: sso.HeaderIssuer, Subject: "jane@example.com", Username: "jane_example.com"},
			wantOK:  true,
		},
		{
			name:    "leading separators trimmed",
			headers: map[string][]string{"X-Authentik-Username": {"--.jane_"}},
			want:    sso.Identity{Issuer: sso.HeaderIssuer, Subject: "--.jane_", Username: "jane"},
			wantOK:  true,
		},
		{
			name:    "long username cut",
			headers: map[string][]string{"X-Authentik-Username": {strings.Repeat("x", 100)}},
			want:    sso.Identity{Issuer: sso.HeaderIssuer, Subject: strings.Repeat("x", 100), Username: strings.Repeat("x", 64)},
			wantOK:  true,
		},
		{
			name:    "invalid email dropped",
			headers: map[string][]string{"X-Authentik-Username": {"jane"}, "X-Authentik-Email": {"not an email"}},
			want:    sso.Identity{Issuer: sso.HeaderIssuer, Subject: "jane", Username: "jane"},
			wantOK:  true,
		},
		{
			name: "custom headers",
			headers: map[string][]string{
				"Remote-User":   {"jane"},
				"Remote-Email":  {"jane@example.com"},
				"Remote-Groups": {"staff"},
				"Remote-Name":   {"Jane"},
				// Authentik's defaults are not read when others are configured.
				"X-Authentik-Username": {"mallory"},
			},
			config: sso.HeaderConfig{UserHeader: "Remote-User", EmailHeader: "Remote-Email", GroupsHeader: "Remote-Groups", NameHeader: "Remote-Name"},
			want: sso.Identity{Issuer: sso.HeaderIssuer, Subject: "jane", Username: "jane",
				Email: "jane@example.com", Name: "Jane", Groups: []string{"staff"}},
			wantOK: true,
		},
		{name: "missing user header", headers: map[string][]string{"X-Authentik-Email": {"jane@example.com"}}},
		{name: "blank user header", headers: map[string][]string{"X-Authentik-Username": {"  "}}},
		{name: "too short", headers: map[string][]string{"X-Authentik-Username": {"jo"}}},
		{name: "nothing valid left", headers: map[string][]string{"X-Authentik-Username": {"日本語"}}},
		{name: "repeated user header", headers: map[string][]string{"X-Authentik-Username": {"jane", "admin"}}},
		{name: "control character", headers: map[string][]string{"X-Authentik-Username": {"jane\x00admin"}}},
		{name: "too long", headers: map[string][]string{"X-Authentik-Username": {strings.Repeat("x", 257)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for k, vs := range tt.headers {
				for _, v := range vs {
					h.Add(k, v)
				}
			}
			got, ok := sso.IdentityFromHeaders(h, tt.config)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}
