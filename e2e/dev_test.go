package e2e

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/devservices"
	"github.com/youworker/youworker/testenv"
)

// The README's first five minutes: `youworker dev` (what `make dev` runs) comes up with no
// configuration and no Ollama, and what its banner prints works as printed: the console URL
// serves the console, the curl block registers and logs a user in, and the CLI lines log that
// user in and chat. Ctrl-C then stops everything it started.
func TestDevFirstFiveMinutes(t *testing.T) {
	t.Parallel()
	root, err := devservices.RepoRoot()
	require.NoError(t, err)
	// A directory of the user's own where `bin/youworker` is the binary under test, as in a
	// checkout after `make dev`.
	home := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(home, "bin"), 0o755))
	require.NoError(t, os.Symlink(binary, filepath.Join(home, "bin", "youworker")))

	api := freeAddr(t)
	cmd := exec.Command(binary, "dev", "--data-dir", filepath.Join(home, ".data"), "--api-addr", api,
		"--temporal-port", port(t), "--temporal-ui-port", port(t), "--postgres-port", port(t))
	cmd.Dir = root
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "OLLAMA_HOST=http://" + freeAddr(t),
		"METRICS_ADDR=" + freeAddr(t), "WORKER_METRICS_ADDR=" + freeAddr(t), "LOG_LEVEL=warn"}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	logs := &testenv.Buffer{}
	cmd.Stderr = logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})

	banner := readBanner(t, stdout, done, logs)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	base := "http://" + api
	require.Contains(t, banner, "Console      "+base+"/console/")
	require.Contains(t, banner, "OLLAMA STAND-IN", "no Ollama answered, so the banner says the stand-in is used")

	resp, err := http.Get(base + "/console/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(page), "<script type=\"module\"")

	// The curl block, run as printed: it registers a user and /v1/auth/me answers with it.
	curl := section(banner, "Try it")
	require.NotEmpty(t, curl, "%s", banner)
	out := shell(t, home, curl)
	user := between(curl, `"username":"`, `"`)
	require.NotEmpty(t, user)
	require.Contains(t, out, `"username":"`+user+`"`, "the curl block logs the user in: %s", out)

	// The CLI lines, run as printed from the checkout, then one question in place of the
	// interactive chat: the stand-in answers by repeating it.
	cli := section(banner, "Then chat")
	require.Contains(t, cli, "bin/youworker login --url "+base+" --username "+user)
	login := strings.TrimSuffix(strings.TrimSpace(cli), "bin/youworker chat")
	shell(t, home, login)
	answer := shell(t, home, `bin/youworker ask "hello from the first five minutes"`)
	require.Contains(t, answer, "hello from the first five minutes")
	require.NotContains(t, logs.String(), "panic")

	// Ctrl-C stops everything: the process group is gone, its ports are free.
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT))
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("youworker dev did not stop on Ctrl-C; logs:\n%s", logs)
	}
	require.Eventually(t, func() bool {
		return syscall.Kill(-cmd.Process.Pid, 0) != nil
	}, 20*time.Second, 100*time.Millisecond, "a process of `youworker dev` outlived it")
	_, err = http.Get(base + "/health")
	require.Error(t, err, "the API stopped")
}

// readBanner reads the dev command's stdout up to the end of its banner.
func readBanner(t *testing.T, r io.Reader, done <-chan error, logs *testenv.Buffer) string {
	t.Helper()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var b strings.Builder
	deadline := time.After(3 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("youworker dev ended before its banner:\n%s\nlogs:\n%s", b.String(), logs)
			}
			b.WriteString(l + "\n")
			if strings.HasPrefix(l, "Ctrl-C stops everything") {
				return b.String()
			}
		case err := <-done:
			t.Fatalf("youworker dev exited (%v) before its banner; logs:\n%s", err, logs)
		case <-deadline:
			t.Fatalf("no banner after 3 minutes:\n%s\nlogs:\n%s", b.String(), logs)
		}
	}
}

// section returns the indented command lines that follow the banner line starting with head.
func section(banner, head string) string {
	var out []string
	in := false
	for _, l := range strings.Split(banner, "\n") {
		switch {
		case strings.HasPrefix(l, head):
			in = true
		case in && strings.HasPrefix(l, "  "):
			out = append(out, strings.TrimSpace(l))
		case in:
			return strings.Join(out, "\n")
		}
	}
	return strings.Join(out, "\n")
}

// shell runs script with bash in dir and returns its output; it must succeed.
func shell(t *testing.T, dir, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "YOUWORKER_CONFIG_DIR=" + filepath.Join(dir, ".config")}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s\n%s", script, out)
	return string(out)
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}

// port returns a free loopback port number.
func port(t *testing.T) string {
	t.Helper()
	_, p, err := net.SplitHostPort(freeAddr(t))
	require.NoError(t, err)
	return p
}
