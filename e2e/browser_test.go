package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// browser is a headless Chromium (Debian's chromium package) driven over the DevTools protocol
// with chromedp: the console as a person uses it. It records every uncaught script error and
// every Content-Security-Policy or Trusted Types violation the page reports.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

// newBrowser starts Chromium for the test. A machine without it fails the test: the browser
// tests are part of `make test`, and `make tools` installs Chromium.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		t.Fatal("Chromium is not installed; the browser tests need it: run `make tools` (it installs Debian's chromium package)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-gpu", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx}
	// The first call starts the browser, bound to ctx itself (a call with a deadline would end it).
	require.NoError(t, chromedp.Do(ctx), "starting Chromium (%s)", exe)
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.problem("uncaught: " + exceptionText(ev.ExceptionDetails))
		case *cdplog.EventEntryAdded:
			// Chromium reports CSP and Trusted Types violations as log entries of the page.
			text := ev.Entry.Text
			if ev.Entry.Source == cdplog.EntrySourceSecurity || ev.Entry.Source == cdplog.EntrySourceViolation ||
				strings.Contains(text, "Content Security Policy") || strings.Contains(text, "Trusted Type") {
				b.problem(string(ev.Entry.Source) + ": " + text)
			}
		}
	}))
	return b
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil && d.Exception.Description != "" {
		return d.Exception.Description
	}
	return d.Text
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// reported returns the script errors and policy violations reported so far.
func (b *browser) reported() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// do runs chromedp actions in order, failing the test after timeout.
func (b *browser) do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...), "problems reported by the page: %v", b.reported())
}

// get runs one chromedp action and returns its value, failing the test after timeout.
func get[T any](b *browser, timeout time.Duration, action chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	require.NoError(b.t, err, "problems reported by the page: %v", b.reported())
	return v
}

// eval evaluates a JavaScript expression in the page (awaiting a promise) and decodes its value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	return get(b, 10*time.Second, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// deleteCookie removes the browser's cookie name for url, as its expiry would.
func (b *browser) deleteCookie(name, url string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: name, URL: url + "/"})
	require.NoError(b.t, err)
}

// waitFor evaluates expr (returning a JSON value) every 40 ms, handing each value to done, until
// done returns true; it fails the test after timeout.
func waitFor[T any](b *browser, what, expr string, timeout time.Duration, done func(T) bool) T {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last T
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
		cancel()
		if err == nil {
			last = v
			if done(v) {
				return v
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not within %s; last seen %+v (error %v); problems reported by the page: %v", what, timeout, last, err, b.reported())
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// screenshot saves a PNG of the whole page as <dir>/<name>.png for people to look at: the
// directory is $YW_SCREENSHOT_DIR, or e2e/testdata/screenshots (ignored by git).
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	dir := os.Getenv("YW_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots")
	}
	require.NoError(b.t, os.MkdirAll(dir, 0o755))
	png := get(b, 30*time.Second, chromedp.FullScreenshot(100))
	require.Greater(b.t, len(png), 1000, "an empty screenshot")
	path := filepath.Join(dir, name+".png")
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	abs, _ := filepath.Abs(path)
	b.t.Logf("screenshot: %s", abs)
	return abs
}
