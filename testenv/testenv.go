// Package testenv is the harness the test suite runs against: a real Postgres cluster and a real
// Temporal dev server, private to the test binary, started on first use and stopped when the
// tests are done. Every package that uses it has
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Each test binary (one per package under `go test ./...`) gets its own services in its own
// temporary directory, so packages run in parallel without sharing state. Set YW_TEST_KEEP=1 to
// keep the directories (cluster data, server logs) and the test databases for inspection.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	dirPrefix  = "yw-testenv-"
	keepMarker = "KEPT"
	stopWait   = 30 * time.Second
)

var (
	mainRunning atomic.Bool

	// logger reports only trouble: test output stays readable.
	logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	dirOnce sync.Once
	dir     string
	dirErr  error
)

// Main runs the package's tests, then stops the services they started, runs cleanups (what the
// TestMain set up itself: os.Exit would skip its deferred calls) and removes their
// temporary directory (unless YW_TEST_KEEP=1), whatever the tests' outcome. Should the process
// die before that (a panic, a timeout, a signal), the services get a parent-death signal, and the
// directory is removed by the next test binary that uses testenv.
func Main(m *testing.M, cleanups ...func()) {
	mainRunning.Store(true)
	code := m.Run()
	shutdown()
	// os.Exit skips deferred calls: whatever the test binary set up for itself goes here.
	for _, c := range cleanups {
		c()
	}
	os.Exit(code)
}

func shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), stopWait)
	defer cancel()
	if t := startedTemporal(); t != nil {
		if err := t.Stop(ctx); err != nil {
			logger.Error("stop the temporal dev server", "error", err)
		}
	}
	if p := startedPostgres(); p != nil {
		if err := p.Stop(ctx); err != nil {
			logger.Error("stop postgres", "error", err)
		}
	}
	if dir == "" {
		return
	}
	if keep() {
		_ = os.WriteFile(filepath.Join(dir, keepMarker), nil, 0o644)
		fmt.Fprintf(os.Stderr, "testenv: YW_TEST_KEEP=1: kept %s (Postgres cluster and its log in pg/, the dev server's log in temporal.log)\n", dir)
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		logger.Error("remove the test directory", "dir", dir, "error", err)
	}
}

func keep() bool { return os.Getenv("YW_TEST_KEEP") == "1" }

func requireMain(t testing.TB) {
	t.Helper()
	if !mainRunning.Load() {
		t.Fatal("testenv: the package's tests must run under testenv.Main, which stops the services afterwards; add\n" +
			"\tfunc TestMain(m *testing.M) { testenv.Main(m) }")
	}
}

// workDir returns this test binary's temporary directory, creating it on first use.
func workDir() (string, error) {
	dirOnce.Do(func() {
		removeStaleDirs()
		name := dirPrefix + binaryName() + "-" + strconv.Itoa(os.Getpid()) + "-"
		dir, dirErr = os.MkdirTemp("", name)
	})
	return dir, dirErr
}

// binaryName is the package's name as `go test` names its binary ("store.test" → "store").
func binaryName() string {
	name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, name)
}

// removeStaleDirs deletes the directories of earlier test binaries that died before cleaning up
// (their PID, the second-to-last part of the name, is gone) and were not kept on purpose.
func removeStaleDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, m := range matches {
		parts := strings.Split(filepath.Base(m), "-")
		if len(parts) < 4 {
			continue
		}
		pid, err := strconv.Atoi(parts[len(parts)-2])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if _, err := os.Stat(filepath.Join(m, keepMarker)); err == nil {
			continue
		}
		if err := os.RemoveAll(m); err == nil {
			logger.Debug("removed the directory of a dead test binary", "dir", m)
		}
	}
}

// processAlive reports whether pid names a live process (a zombie is not).
func processAlive(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// sanitize turns a test name into something safe for identifiers: letters, digits, and sep
// for everything else, at most maxLen bytes.
func sanitize(name string, sep rune, maxLen int) string {
	s := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return sep
	}, name)
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	return s
}
