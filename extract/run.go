package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Output bounds of external tools: text beyond maxToolOutput is dropped (with a warning), and
// only the start and the end of stderr are kept for error messages.
const (
	maxToolOutput     = 64 << 20
	maxToolStderr     = 16 << 10
	maxToolStderrHead = 4 << 10
)

// toolResult is what an external tool printed.
type toolResult struct {
	stdout    []byte
	stderr    string        // trimmed
	truncated bool          // stdout went past its bound
	exitCode  int           // -1 when the tool did not exit by itself
	cpu       time.Duration // user and system time the tool used
}

// run runs a tool with explicit arguments (never through a shell) under the Extractor's timeout
// and, when limits are set, through prlimit with the memory and CPU limits (and no core dumps):
// prlimit sets them on itself and execs the tool, so the kernel enforces them from the tool's
// first instruction and even after the worker is gone. A tool that exits non-zero is not an error
// here: the caller reads exitCode and stderr, which tell a damaged file from an encrypted one.
// Errors are starting failures (worth a retry), the caller's context ending, and the document
// being over a limit (ErrLimit): the timeout passed, the tool was killed by a signal (the CPU
// limit's SIGXCPU, an abort on a failed allocation, the OOM killer) or ran out of memory.
func (e *Extractor) run(ctx context.Context, env []string, name string, args ...string) (toolResult, error) {
	return e.runOut(ctx, filepath.Base(name), maxToolOutput, env, name, args...)
}

// runOut is run keeping up to maxOut bytes of standard output, with tool naming the program in
// errors. With tracing on, each run is a span (see startToolSpan).
func (e *Extractor) runOut(ctx context.Context, tool string, maxOut int, env []string, name string, args ...string) (res toolResult, err error) {
	ctx, span := startToolSpan(ctx, name)
	defer func() { endToolSpan(span, res, err) }()
	return e.execTool(ctx, tool, maxOut, env, name, args...)
}

func (e *Extractor) execTool(ctx context.Context, tool string, maxOut int, env []string, name string, args ...string) (toolResult, error) {
	bin, err := exec.LookPath(name)
	if err != nil {
		return toolResult{exitCode: -1}, fmt.Errorf("run %s: %w", tool, err)
	}
	argv := append([]string{bin}, args...)
	if e.limited() {
		argv = append(e.prlimitArgs(), argv...)
	}
	tctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	stdout := &boundedBuffer{max: maxOut}
	// The end of stderr says why a tool failed; its start, when a long trace follows (a Go
	// fatal error), what failed.
	stderrHead := &boundedBuffer{max: maxToolStderrHead}
	stderr := &boundedBuffer{max: maxToolStderr, keepTail: true}
	cmd := exec.CommandContext(tctx, argv[0], argv[1:]...)
	cmd.Stdout = stdout
	cmd.Stderr = io.MultiWriter(stderrHead, stderr)
	cmd.Stdin = nil
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	// A tool that leaves a child holding its pipes must not hang us past the kill.
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	errText := stderr.String()
	if stderr.dropped {
		errText = stderrHead.String() + "\n…\n" + errText
	}
	res := toolResult{stdout: stdout.Bytes(), stderr: strings.TrimSpace(errText), truncated: stdout.dropped, exitCode: -1}
	var sig syscall.Signal
	if cmd.ProcessState != nil {
		res.exitCode = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig = ws.Signal()
		}
		res.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	e.log.DebugContext(ctx, "tool ran", "tool", tool, "exit_code", res.exitCode,
		"duration", time.Since(start), "stdout_bytes", len(res.stdout))
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("%s: %w", tool, err)
	}
	if tctx.Err() != nil {
		return res, fmt.Errorf("%w: %s did not finish within %s", ErrLimit, tool, e.timeout)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return res, fmt.Errorf("run %s: %w", tool, err)
	}
	switch {
	// SIGXCPU at the soft limit, or SIGKILL at the hard one for a program that ignores SIGXCPU
	// (the Go runtime does).
	case sig == syscall.SIGXCPU, sig == syscall.SIGKILL && e.maxCPU > 0 && res.cpu >= e.maxCPU:
		return res, fmt.Errorf("%w: %s used more than %s of CPU time", ErrLimit, tool, e.maxCPU)
	case outOfMemory(res.stderr) != "" && (sig != 0 || res.exitCode != 0):
		return res, fmt.Errorf("%w: %s ran out of memory%s: %s", ErrLimit, tool, e.memoryNote(), outOfMemory(res.stderr))
	case sig != 0:
		return res, fmt.Errorf("%w: %s was killed (%s)%s: %s", ErrLimit, tool, sig, e.memoryNote(), lastLine(res.stderr))
	}
	return res, nil
}

// prlimitArgs is the prlimit command line that precedes a tool's: no core dumps (a killed tool
// would dump its whole address space into the worker's directory), the memory and the CPU time.
// Memory is RLIMIT_DATA, the heap and private writable mappings (what a parser allocates), not
// RLIMIT_AS: a Go process (the sandbox) reserves far more address space than it ever uses.
// SIGXCPU comes at the CPU limit, SIGKILL a few seconds later if the tool ignores it.
func (e *Extractor) prlimitArgs() []string {
	args := []string{e.prlimit, "--core=0"}
	if e.maxMemory > 0 {
		args = append(args, "--data="+strconv.FormatInt(e.maxMemory, 10))
	}
	if e.maxCPU > 0 {
		soft := int64(max(math.Ceil(e.maxCPU.Seconds()), 1))
		args = append(args, fmt.Sprintf("--cpu=%d:%d", soft, soft+5))
	}
	return append(args, "--")
}

// memoryNote names the memory limit for error messages.
func (e *Extractor) memoryNote() string {
	if e.maxMemory <= 0 {
		return ""
	}
	return fmt.Sprintf(" (memory limit %d MiB)", e.maxMemory>>20)
}

// outOfMemory returns the line of a tool's stderr that tells of a failed allocation, "" when
// none does: C++ std::bad_alloc (poppler, tesseract), poppler's "Out of memory", leptonica's
// "malloc fail", the Go runtime's "out of memory" or "cannot allocate memory" (the sandbox;
// "failed to allocate" when it is built with the race detector), or ENOMEM.
func outOfMemory(stderr string) string {
	for line := range strings.SplitSeq(stderr, "\n") {
		lower := strings.ToLower(line)
		for _, m := range []string{"bad_alloc", "out of memory", "malloc fail", "failed to allocate", "cannot allocate memory"} {
			if strings.Contains(lower, m) {
				return lastLine(line)
			}
		}
	}
	return ""
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
