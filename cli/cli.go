// Package cli is YouWorker's command-line client: the client commands of the youworker binary
// (login, logout, chat, ask, ingest, runs, search, sessions), which talk to a running API through
// package client.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/youworker/youworker/client"
)

// Env is what a command runs with: its standard streams, whether they are terminals, the
// interrupts (Ctrl-C) it receives and the environment.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// StdinTTY and StdoutTTY say whether the streams are terminals (prompts, live output, bars).
	StdinTTY, StdoutTTY bool
	// Interrupts delivers each Ctrl-C.
	Interrupts <-chan os.Signal
	Getenv     func(string) string
	// ReadSecret prompts and reads a line without echo; nil when there is no terminal.
	ReadSecret func(prompt string) (string, error)
	// Version goes into the User-Agent.
	Version string
}

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, a *app, args []string) error
	// interrupts: the command handles Ctrl-C itself (otherwise Ctrl-C cancels its context).
	interrupts bool
}

var commands = []command{
	{"login", "[--url URL] [--api-key KEY | --username NAME]", "sign in to an API and store the credentials (mode 0600)", runLogin, false},
	{"logout", "", "revoke the stored login and forget it", runLogout, false},
	{"chat", "[SESSION]", "chat interactively; streams the answer, asks before tools that need approval", runChat, true},
	{"ask", `"QUESTION" | -`, "ask once and print only the answer (stdin when no question or -); --json", runAsk, true},
	{"ingest", "FILE|DIR|URL...", "upload files (directories walked) and URLs, follow each run with progress bars", runIngest, false},
	{"runs", "", "list the ingestion runs", runRuns, false},
	{"search", `"QUERY"`, "search your documents", runSearch, false},
	{"sessions", "", "list the chat sessions", runSessions, false},
}

// IsCommand reports whether name is a client command.
func IsCommand(name string) bool {
	for _, c := range commands {
		if c.name == name {
			return true
		}
	}
	return false
}

// Usage is the client commands' section of the binary's help.
func Usage() string {
	var b strings.Builder
	b.WriteString("client commands (talk to a running API; configured by youworker login, YOUWORKER_URL, YOUWORKER_API_KEY):\n")
	for _, c := range commands {
		line := "  " + c.name
		if c.args != "" {
			line += " " + c.args
		}
		if len(line) > 25 {
			fmt.Fprintf(&b, "%s\n%26s%s\n", line, "", c.summary)
		} else {
			fmt.Fprintf(&b, "%-26s%s\n", line, c.summary)
		}
	}
	b.WriteString("  (each takes --url URL and -h; runs, search, sessions, ask and ingest take --json)")
	return b.String()
}

// Main runs a client command as the process: Ctrl-C goes to the command, SIGTERM cancels it.
func Main(args []string, version string) int {
	ints := make(chan os.Signal, 4)
	signal.Notify(ints, os.Interrupt)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	env := Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Interrupts: ints, Getenv: os.Getenv, Version: version,
		StdinTTY: term.IsTerminal(int(os.Stdin.Fd())), StdoutTTY: term.IsTerminal(int(os.Stdout.Fd()))}
	if env.StdinTTY {
		env.ReadSecret = func(prompt string) (string, error) {
			fmt.Fprint(os.Stderr, prompt)
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			fmt.Fprintln(os.Stderr)
			return string(b), err
		}
	}
	return Run(ctx, env, args)
}

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// usageError is bad input on the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError ends a command with a code; msg ("" when already said) is printed.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

var errInterrupted = exitError{code: exitInterrupted, msg: "interrupted"}

// Run runs the client command args[0] and returns the process's exit code.
func Run(ctx context.Context, env Env, args []string) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 || !IsCommand(args[0]) {
		fmt.Fprintln(env.Stderr, Usage())
		return exitUsage
	}
	var cmd command
	for _, c := range commands {
		if c.name == args[0] {
			cmd = c
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !cmd.interrupts && env.Interrupts != nil {
		go func() {
			select {
			case <-env.Interrupts:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	a := &app{env: env, cmd: cmd}
	err := cmd.run(ctx, a, args[1:])
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(env.Stderr, "youworker %s: %s\nrun youworker %s -h for help\n", cmd.name, ue.msg, cmd.name)
		return exitUsage
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(env.Stderr, "youworker %s: %s\n", cmd.name, ee.msg)
		}
		return ee.code
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintf(env.Stderr, "youworker %s: interrupted\n", cmd.name)
		return exitInterrupted
	}
	fmt.Fprintf(env.Stderr, "youworker %s: %s\n", cmd.name, explain(err))
	return exitFailed
}

// explain adds what to do to an error.
func explain(err error) string {
	var apiErr *client.Error
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
		return err.Error() + "; run youworker login (or set YOUWORKER_API_KEY)"
	}
	return err.Error()
}

// app is one command's run.
type app struct {
	env Env
	cmd command
	// flags every client command has
	url     string
	jsonOut bool
}

// flags makes the command's flag set with --url (and --json when asked for).
func (a *app) flags(withJSON bool) *flag.FlagSet {
	fs := flag.NewFlagSet("youworker "+a.cmd.name, flag.ContinueOnError)
	fs.SetOutput(a.env.Stderr)
	fs.StringVar(&a.url, "url", "", "the API's base URL (default: YOUWORKER_URL, then the one youworker login stored)")
	if withJSON {
		fs.BoolVar(&a.jsonOut, "json", false, "print JSON instead of text")
	}
	fs.Usage = func() {
		fmt.Fprintf(a.env.Stderr, "usage: youworker %s [flags] %s\n\n%s\n\nflags:\n", a.cmd.name, a.cmd.args, a.cmd.summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags anywhere among the arguments (youworker ask "…" --json) and returns the
// others; "--" ends the flags.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// normalizeURL checks an API URL and drops a trailing slash.
func normalizeURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("the API URL must look like https://youworker.example.com, got %q", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// client builds the API client: the URL from --url, YOUWORKER_URL or the stored config; the
// credentials from YOUWORKER_API_KEY or the stored login (only for the URL it was made for).
func (a *app) client() (*client.Client, error) {
	dir, err := configDir(a.env.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(dir)
	if err != nil {
		return nil, err
	}
	raw := a.apiURL(cfg.URL)
	if raw == "" {
		return nil, exitError{code: exitFailed, msg: "no API to talk to: run youworker login --url URL, or set YOUWORKER_URL"}
	}
	base, err := normalizeURL(raw)
	if err != nil {
		return nil, err
	}
	c := a.newClient(base)
	if key := a.env.Getenv("YOUWORKER_API_KEY"); key != "" {
		c.APIKey = key
		return c, nil
	}
	if !cfg.LoggedIn() {
		return nil, exitError{code: exitFailed, msg: "not logged in: run youworker login --url " + base + " (or set YOUWORKER_API_KEY)"}
	}
	if cfg.URL != base {
		return nil, exitError{code: exitFailed, msg: fmt.Sprintf("the stored login is for %s, not %s: run youworker login --url %s", cfg.URL, base, base)}
	}
	c.APIKey, c.Tokens = cfg.APIKey, cfg.Tokens
	if c.Tokens != nil {
		c.Store = tokenStore{dir: dir, url: base}
	}
	return c, nil
}

func (a *app) newClient(base string) *client.Client {
	return &client.Client{BaseURL: base, UserAgent: "youworker-cli/" + a.env.Version,
		Notify: func(msg string) { fmt.Fprintf(a.env.Stderr, "youworker: %s\n", msg) }}
}

// printJSON writes v as indented JSON to stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.env.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// apiURL is the API to talk to: --url, else YOUWORKER_URL, else the stored one ("" if none).
func (a *app) apiURL(stored string) string {
	for _, u := range []string{a.url, a.env.Getenv("YOUWORKER_URL")} {
		if u != "" {
			return u
		}
	}
	return stored
}
