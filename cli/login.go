package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
)

// runLogin signs in with an API key or a username and password, checks the credentials with
// GET /v1/auth/me and stores them. Secrets come from a prompt without echo on a terminal, or
// from the first line of stdin (echo "$KEY" | youworker login --url …).
func runLogin(ctx context.Context, a *app, args []string) error {
	fs := a.flags(false)
	apiKey := fs.String("api-key", "", "an API key (yw_…; from the account's API keys); visible to other local users in the process list, prefer the prompt or stdin")
	username := fs.String("username", "", "log in with this username and its password (prompted, or the first line of stdin)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *apiKey != "" && *username != "" {
		return usagef("give --api-key or --username, not both")
	}
	dir, err := configDir(a.env.Getenv)
	if err != nil {
		return err
	}
	stored, err := loadConfig(dir)
	if err != nil && !errors.As(err, new(exposedError)) {
		return err // a config that others may read is replaced below
	}
	raw := a.apiURL(stored.URL)
	if raw == "" {
		return usagef("which API? give --url URL (or set YOUWORKER_URL)")
	}
	base, err := normalizeURL(raw)
	if err != nil {
		return err
	}
	stdin := bufio.NewReader(a.env.Stdin)
	readLine := func(what string) (string, error) {
		line, err := stdin.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if err != nil {
				return "", usagef("no %s: there is no terminal to ask on and stdin is empty", what)
			}
			return "", usagef("the %s is empty", what)
		}
		return line, nil
	}
	secret := func(prompt, what string) (string, error) {
		if a.env.ReadSecret != nil {
			s, err := a.env.ReadSecret(prompt)
			if err != nil {
				return "", err
			}
			if s = strings.TrimSpace(s); s == "" {
				return "", usagef("the %s is empty", what)
			}
			return s, nil
		}
		return readLine(what)
	}
	if *apiKey == "" && *username == "" {
		if a.env.ReadSecret == nil {
			if *apiKey, err = readLine("API key"); err != nil {
				return err
			}
		} else {
			fmt.Fprint(a.env.Stderr, "Username (leave empty to use an API key): ")
			name, _ := stdin.ReadString('\n')
			if *username = strings.TrimSpace(name); *username == "" {
				if *apiKey, err = secret("API key: ", "API key"); err != nil {
					return err
				}
			}
		}
	}
	c := a.newClient(base)
	cfg := Config{URL: base}
	if *apiKey != "" {
		c.APIKey = strings.TrimSpace(*apiKey)
		u, err := c.Me(ctx)
		if err != nil {
			return fmt.Errorf("the API key was refused: %w", err)
		}
		cfg.APIKey, cfg.Username = c.APIKey, u.Username
	} else {
		password, err := secret("Password for "+*username+": ", "password")
		if err != nil {
			return err
		}
		tokens, u, err := c.Login(ctx, *username, password)
		if err != nil {
			return fmt.Errorf("logging in as %s: %w", *username, err)
		}
		if tokens.RefreshToken == "" {
			return errors.New("the API's login answer has no refresh token cookie; cannot keep the login")
		}
		cfg.Tokens, cfg.Username = &tokens, u.Username
	}
	unlock, err := lockConfig(dir)
	if err != nil {
		return err
	}
	defer unlock()
	if err := saveConfig(dir, cfg); err != nil {
		return fmt.Errorf("storing the credentials: %w", err)
	}
	how := "password login"
	if cfg.APIKey != "" {
		how = "API key"
	}
	fmt.Fprintf(a.env.Stderr, "Logged in to %s as %s (%s); credentials stored in %s\n", base, cfg.Username, how, dir)
	return nil
}

// runLogout revokes a password login's tokens on the API and forgets the stored credentials
// (the URL stays). An API key stays valid: revoke it under the account's API keys.
func runLogout(ctx context.Context, a *app, args []string) error {
	if err := noArgs(a.flags(false), args); err != nil {
		return err
	}
	dir, err := configDir(a.env.Getenv)
	if err != nil {
		return err
	}
	unlock, err := lockConfig(dir)
	if err != nil {
		return err
	}
	defer unlock()
	cfg, err := loadConfig(dir)
	if err != nil {
		return err
	}
	if !cfg.LoggedIn() {
		fmt.Fprintln(a.env.Stderr, "Not logged in.")
		return nil
	}
	var revokeErr error
	if cfg.Tokens != nil {
		c := a.newClient(cfg.URL)
		c.Tokens = cfg.Tokens
		c.RetryFor = 1 // one try: logging out must not hang on an API that is away
		revokeErr = c.Logout(ctx)
	}
	wasKey := cfg.APIKey != ""
	if err := saveConfig(dir, Config{URL: cfg.URL}); err != nil {
		return err
	}
	switch {
	case revokeErr != nil:
		fmt.Fprintf(a.env.Stderr, "Forgot the login to %s, but the API did not revoke it: %v\n", cfg.URL, revokeErr)
		return exitError{code: exitFailed}
	case wasKey:
		fmt.Fprintf(a.env.Stderr, "Forgot the API key for %s; it stays valid until you revoke it (DELETE /v1/account/api-keys/:id).\n", cfg.URL)
	default:
		fmt.Fprintf(a.env.Stderr, "Logged out of %s.\n", cfg.URL)
	}
	return nil
}
