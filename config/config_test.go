package config

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func base() map[string]string {
	return map[string]string{
		"DATABASE_URL": "postgres://u:p@127.0.0.1:5432/youworker",
		"JWT_SECRET":   strings.Repeat("s", 32),
		"FERNET_KEYS":  "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=",
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := FromMap(base())
	require.NoError(t, err)
	require.Equal(t, 10, c.DBPoolSize)
	require.Equal(t, 20, c.DBMaxOverflow)
	require.Equal(t, time.Second, c.DBSlowQuery)
	require.Equal(t, int64(1<<20), c.MaxBodyBytes)
	require.True(t, c.DBPrePing)
	require.False(t, c.CookieSecure, "the default PUBLIC_URL is plain http")
	require.Equal(t, "youworker", c.TaskQueue)
	require.Equal(t, 20, c.MCPMaxResults)
	require.Equal(t, int64(256<<10), c.MCPMaxTextBytes)
	require.Equal(t, int64(256<<10), c.MCPTextLimit())
}

// A lower MAX_UPLOAD_BYTES lowers the /mcp endpoint's text limit with it: the platform starts
// (it refused to) and the endpoint takes no text the upload routes would refuse.
func TestMCPTextLimitFollowsTheUploadCap(t *testing.T) {
	t.Parallel()
	vars := base()
	vars["MAX_UPLOAD_BYTES"] = "4096"
	c, err := FromMap(vars)
	require.NoError(t, err)
	require.Equal(t, int64(4096), c.MCPTextLimit())
}

func TestBadValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, variable, value string
	}{
		{"unparseable int", "DB_POOL_SIZE", "ten"},
		{"zero pool", "DB_POOL_SIZE", "0"},
		{"negative overflow", "DB_MAX_OVERFLOW", "-1"},
		{"bad duration", "DB_SLOW_QUERY_THRESHOLD", "soon"},
		{"bad bool", "ALLOW_REGISTRATION", "perhaps"},
		{"short secret", "JWT_SECRET", "short"},
		{"missing database", "DATABASE_URL", ""},
		{"not postgres", "DATABASE_URL", "mysql://x"},
		{"bad level", "LOG_LEVEL", "loud"},
		{"bad format", "LOG_FORMAT", "xml"},
		{"tiny body cap", "MAX_BODY_BYTES", "10"},
		{"ollama not http", "OLLAMA_HOST", "ftp://x"},
		{"access ttl too long", "ACCESS_TOKEN_TTL", "48h"},
		{"missing fernet key", "FERNET_KEYS", ""},
		{"bad fernet key", "FERNET_KEYS", "not-a-key"},
		{"bad mcp server", "MCP_SERVERS", "datetime"},
		{"worker metrics not host:port", "WORKER_METRICS_ADDR", "9465"},
		{"model alias without a model", "MODEL_ALIASES", "gpt-4o-mini="},
		{"zero steps", "TURN_MAX_STEPS", "0"},
		{"bad allowlist entry", "IP_ALLOWLIST", "10.0.0.0/8,intranet"},
		{"bad proxy entry", "TRUSTED_PROXIES", "10.0.0.300"},
		{"MCP origin with a path", "MCP_ALLOWED_ORIGINS", "https://app.example/ui"},
		{"short previous secret", "JWT_SECRET_PREVIOUS", "short"},
		{"previous identity secret alone", "MCP_IDENTITY_SECRET_PREVIOUS", strings.Repeat("i", 32)},
		{"no MCP results", "MCP_ENDPOINT_MAX_RESULTS", "0"},
		{"no analytics window", "ANALYTICS_MAX_DAYS", "0"},
		{"fewer analytics buckets than days", "ANALYTICS_MAX_BUCKETS", "364"},
		{"more MCP results than a search returns", "MCP_ENDPOINT_MAX_RESULTS", "51"},
		{"no MCP text", "MCP_ENDPOINT_MAX_TEXT_BYTES", "0"},
		{"negative OCR pages", "OCR_MAX_PDF_PAGES", "-1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vars := base()
			vars[tc.variable] = tc.value
			_, err := FromMap(vars)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.variable)
		})
	}
}

// Auth cookies are Secure when the API is reached over https, not over plain http (where browsers
// would drop them on any host but localhost and login would silently fail); COOKIE_SECURE decides
// when set.
func TestCookieSecureFollowsPublicURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, publicURL, cookieSecure string
		want                          bool
	}{
		{"https", "https://yw.example.com", "", true},
		{"https upper case", "HTTPS://yw.example.com", "", true},
		{"plain http on a LAN host", "http://192.168.1.20:8080", "", false},
		{"explicitly secure over http", "http://192.168.1.20:8080", "true", true},
		{"explicitly not secure over https", "https://yw.example.com", "false", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vars := base()
			vars["PUBLIC_URL"] = tc.publicURL
			if tc.cookieSecure != "" {
				vars["COOKIE_SECURE"] = tc.cookieSecure
			}
			c, err := FromMap(vars)
			require.NoError(t, err)
			require.Equal(t, tc.want, c.CookieSecure)
		})
	}
	vars := base()
	vars["COOKIE_SECURE"] = "sometimes"
	_, err := FromMap(vars)
	require.ErrorContains(t, err, "COOKIE_SECURE")
}

// A password with URL metacharacters given in DATABASE_PASSWORD reaches Postgres intact: pgx
// (what the store connects with) reads back the same password, user, host and options.
func TestDatabasePasswordIsEscaped(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"a/b+c@d:e", "p@ss/w+rd?#%20&=", "plain", "  spaces  "} {
		t.Run(pw, func(t *testing.T) {
			t.Parallel()
			vars := base()
			vars["DATABASE_URL"] = "postgres://youworker@db.internal:6543/youworker?sslmode=disable"
			vars["DATABASE_PASSWORD"] = pw
			c, err := FromMap(vars)
			require.NoError(t, err)
			pc, err := pgx.ParseConfig(c.DatabaseURL)
			require.NoError(t, err)
			require.Equal(t, pw, pc.Password)
			require.Equal(t, "youworker", pc.User)
			require.Equal(t, "db.internal", pc.Host)
			require.Equal(t, uint16(6543), pc.Port)
			require.Equal(t, "youworker", pc.Database)
			require.Nil(t, pc.TLSConfig, "sslmode=disable is kept")
		})
	}
}

func TestDatabasePasswordNeedsAUserAndNoSecondPassword(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]string{
		"password in both places": "postgres://youworker:other@db/youworker",
		"no user":                 "postgres://db/youworker",
		"not a URL":               "host=db user=youworker",
		"no URL":                  "",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars := base()
			vars["DATABASE_URL"] = url
			vars["DATABASE_PASSWORD"] = "secret"
			_, err := FromMap(vars)
			require.ErrorContains(t, err, "DATABASE_PASSWORD")
		})
	}
}

var update = flag.Bool("update", false, "rewrite the README's configuration table")

func TestIPSets(t *testing.T) {
	t.Parallel()
	vars := base()
	vars["IP_ALLOWLIST"] = " 10.1.0.0/16 , 192.168.1.7,2001:db8::/32"
	vars["TRUSTED_PROXIES"] = "::ffff:127.0.0.1"
	c, err := FromMap(vars)
	require.NoError(t, err)
	allowed := c.AllowedIPs()
	for ip, want := range map[string]bool{
		"10.1.200.3": true, "10.2.0.1": false, "192.168.1.7": true, "192.168.1.8": false,
		"::ffff:10.1.0.1": true, "2001:db8::1": true, "2001:db9::1": false, "": false, "garbage": false,
	} {
		require.Equal(t, want, allowed.Contains(ip), ip)
	}
	require.True(t, c.TrustedProxyIPs().Contains("127.0.0.1"), "an IPv4-mapped entry matches the IPv4 address")
	require.False(t, c.TrustedProxyIPs().Contains("127.0.0.2"))
}

// TestREADMEConfigTable keeps the README's configuration table equal to the variables Config
// reads. `make docs` (go test ./config -run TestREADMEConfigTable -update) regenerates it.
func TestREADMEConfigTable(t *testing.T) {
	const begin, end = "<!-- env:begin (make docs regenerates this table) -->\n", "<!-- env:end -->"
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	require.True(t, i >= 0 && j > i, "README.md lacks the env:begin/env:end markers")
	want := s[:i+len(begin)] + MarkdownTable() + s[j:]
	if *update {
		require.NoError(t, os.WriteFile("../README.md", []byte(want), 0o644))
		return
	}
	require.Equal(t, want, s, "README.md configuration table is stale: run make docs")
}

// The MCP identity keys come from MCP_IDENTITY_SECRET when set, else from JWT_SECRET; each secret's
// previous one adds a verifying key, never a signing one; no key is a secret itself.
func TestIdentityKeys(t *testing.T) {
	t.Parallel()
	vars := base()
	c, err := FromMap(vars)
	require.NoError(t, err)
	require.Len(t, c.IdentityKeys(), 1)
	require.NotEqual(t, []byte(vars["JWT_SECRET"]), c.IdentitySecret())

	vars["JWT_SECRET_PREVIOUS"] = strings.Repeat("p", 32)
	rotating, err := FromMap(vars)
	require.NoError(t, err)
	require.Len(t, rotating.IdentityKeys(), 2)
	require.Equal(t, c.IdentitySecret(), rotating.IdentitySecret(), "the current secret signs")

	vars["MCP_IDENTITY_SECRET"] = strings.Repeat("m", 32)
	own, err := FromMap(vars)
	require.NoError(t, err)
	require.Len(t, own.IdentityKeys(), 1, "JWT_SECRET_PREVIOUS does not concern a separate identity secret")
	require.NotEqual(t, c.IdentitySecret(), own.IdentitySecret())
	vars["MCP_IDENTITY_SECRET_PREVIOUS"] = strings.Repeat("n", 32)
	ownRotating, err := FromMap(vars)
	require.NoError(t, err)
	require.Len(t, ownRotating.IdentityKeys(), 2)
	require.Equal(t, own.IdentitySecret(), ownRotating.IdentitySecret())
}

// `youworker migrate` reads the configuration unchecked (no secrets needed yet); the database
// password is escaped into the URL there too, or a compose or Helm migrate job could not log in.
func TestUncheckedConfigHasTheDatabasePassword(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://youworker@db.internal:6543/youworker")
	t.Setenv("DATABASE_PASSWORD", "a/b+c@d:e")
	t.Setenv("JWT_SECRET", "")
	c, err := FromEnvUnchecked()
	require.NoError(t, err)
	pc, err := pgx.ParseConfig(c.DatabaseURL)
	require.NoError(t, err)
	require.Equal(t, "a/b+c@d:e", pc.Password)
}
