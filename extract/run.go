package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Output bounds of external tools: text beyond maxToolOutput is dropped (with a warning), and
// only the end of stderr is kept for error messages.
const (
	maxToolOutput = 64 << 20
	maxToolStderr = 16 << 10
)

// toolResult is what an external tool printed.
type toolResult struct {
	stdout    []byte
	stderr    string // trimmed
	truncated bool   // stdout went past its bound
	exitCode  int    // -1 when the tool did not exit by itself
}

// run runs a tool with explicit arguments (never through a shell) under the Extractor's timeout.
// A tool that exits non-zero is not an error here: the caller reads exitCode and stderr, which
// tell a damaged file from an encrypted one. Errors are starting failures and timeouts.
func (e *Extractor) run(ctx context.Context, env []string, name string, args ...string) (toolResult, error) {
	tctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	stdout := &boundedBuffer{max: maxToolOutput}
	stderr := &boundedBuffer{max: maxToolStderr, keepTail: true}
	cmd := exec.CommandContext(tctx, name, args...)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.Stdin = nil
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	// A tool that leaves a child holding its pipes must not hang us past the kill.
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := toolResult{stdout: stdout.Bytes(), stderr: strings.TrimSpace(stderr.String()), truncated: stdout.dropped, exitCode: -1}
	if cmd.ProcessState != nil {
		res.exitCode = cmd.ProcessState.ExitCode()
	}
	e.log.DebugContext(ctx, "tool ran", "tool", filepath.Base(name), "exit_code", res.exitCode,
		"duration", time.Since(start), "stdout_bytes", len(res.stdout))
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	if err := tctx.Err(); err != nil {
		return res, fmt.Errorf("%s did not finish within %s: %w", filepath.Base(name), e.timeout, err)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return res, fmt.Errorf("run %s: %w", filepath.Base(name), err)
	}
	if res.exitCode < 0 {
		return res, fmt.Errorf("%s was killed: %s", filepath.Base(name), lastLine(res.stderr))
	}
	return res, nil
}

// boundedBuffer keeps at most max bytes: the first ones, or with keepTail the last ones. It
// never fails a write, so the tool runs to its end rather than dying of a broken pipe.
type boundedBuffer struct {
	buf      bytes.Buffer
	max      int
	keepTail bool
	dropped  bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if b.keepTail {
		b.buf.Write(p)
		if over := b.buf.Len() - b.max; over > 0 {
			rest := bytes.Clone(b.buf.Bytes()[over:])
			b.buf.Reset()
			b.buf.Write(rest)
			b.dropped = true
		}
		return n, nil
	}
	if room := b.max - b.buf.Len(); room < len(p) {
		p = p[:max(room, 0)]
		b.dropped = true
	}
	b.buf.Write(p)
	return n, nil
}

func (b *boundedBuffer) Bytes() []byte  { return b.buf.Bytes() }
func (b *boundedBuffer) String() string { return b.buf.String() }

// lastLine returns the last non-empty line of s, at most 300 bytes, for error messages.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

// siblingTool returns the path of tool next to the binary at ref when ref is a path, else tool
// itself (found through PATH).
func siblingTool(ref, tool string) string {
	if strings.ContainsRune(ref, filepath.Separator) {
		return filepath.Join(filepath.Dir(ref), tool)
	}
	return tool
}
