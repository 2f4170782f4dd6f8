// Package devservices starts real, private instances of the services YouWorker depends on —
// a Postgres cluster from the Debian binaries and the Temporal CLI dev server — as child
// processes of the caller. The `youworker dev` command uses it to run the stack on a laptop and
// the testenv package uses it to give every test binary its own services.
//
// Children are started in their own process group (a Ctrl-C in the terminal reaches only the
// parent, which stops them in order) with a parent-death signal, so a parent that dies without
// calling Stop (a panic, a SIGKILL, a test timeout) does not leave them running.
package devservices

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// startTimeout bounds a service's start-up when the caller's context has no earlier deadline.
const startTimeout = 2 * time.Minute

// child is one running service process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // the result of cmd.Wait, valid after done is closed

	stopOnce sync.Once
	stopErr  error
}

// spawnRequests is served by one goroutine locked to its OS thread for the life of the process.
// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process, and the
// Go runtime does retire threads (a goroutine that exits while locked to its thread takes the
// thread with it). Forking from a thread that never exits makes the signal mean "the parent
// process died".
var (
	spawnOnce     sync.Once
	spawnRequests = make(chan func())
)

func spawnFromStableThread(start func()) {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked, so the thread lives as long as the process
			for f := range spawnRequests {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawnRequests <- func() {
		defer close(done)
		start()
	}
	<-done
}

// startChild starts cmd in its own process group with deathSig as its parent-death signal and
// reaps it in the background.
func startChild(cmd *exec.Cmd, deathSig syscall.Signal) (*child, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = deathSig
	// A grandchild that inherited the output pipe must not keep Wait from returning.
	cmd.WaitDelay = 2 * time.Second

	var err error
	spawnFromStableThread(func() { err = cmd.Start() })
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// untilExit returns a context that also ends when the process exits, so probes of a server that
// died do not wait out their timeouts.
func (c *child) untilExit(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stopStep is one signal of a shutdown sequence and how long to wait for the exit after it.
type stopStep struct {
	sig  syscall.Signal
	wait time.Duration
}

// stop sends each step's signal in turn and waits for the process to exit; when all steps are
// exhausted (or there are none) it sends SIGKILL to the process group. When ctx ends, the
// remaining waits are cut short but the signals are still sent. stop is idempotent: later calls
// wait for the first one and return its result.
func (c *child) stop(ctx context.Context, name string, steps ...stopStep) error {
	c.stopOnce.Do(func() { c.stopErr = c.doStop(ctx, name, steps) })
	return c.stopErr
}

func (c *child) doStop(ctx context.Context, name string, steps []stopStep) error {
	if c.exited() {
		if c.err != nil {
			return fmt.Errorf("%s had already exited: %w", name, c.err)
		}
		return nil
	}
	pid := c.pid()
	var reasons []string
	for _, s := range steps {
		if err := syscall.Kill(pid, s.sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal %s (pid %d): %w", name, pid, err)
		}
		if ctx.Err() != nil {
			// Still give the process a moment: an immediate shutdown is better than SIGKILL.
			s.wait = min(s.wait, time.Second)
		}
		timer := time.NewTimer(s.wait)
		select {
		case <-c.done:
			timer.Stop()
			if reasons == nil {
				return nil
			}
			return fmt.Errorf("%s (pid %d) %s", name, pid, strings.Join(reasons, ", "))
		case <-timer.C:
			reasons = append(reasons, fmt.Sprintf("did not exit within %s of %s", s.wait, s.sig))
		case <-ctx.Done():
			timer.Stop()
			reasons = append(reasons, fmt.Sprintf("stop interrupted (%v) before it exited after %s", ctx.Err(), s.sig))
		}
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", name, pid, err)
	}
	<-c.done
	if len(steps) == 0 { // SIGKILL was the plan
		return nil
	}
	return fmt.Errorf("%s (pid %d) %s; killed it", name, pid, strings.Join(reasons, ", "))
}

// startContext applies startTimeout unless ctx already ends earlier.
func startContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) < startTimeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, startTimeout)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1. Another process may take it before
// the service binds it; the callers detect that and retry.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// errPortTaken marks a start-up that failed because another process bound the port first.
var errPortTaken = errors.New("port already in use")

// tailBuffer keeps the last max bytes written to it; it is safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(maxBytes int) *tailBuffer { return &tailBuffer{max: maxBytes} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// lastLines returns at most n trailing lines of s, trimmed, for error messages.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := bytes.Split([]byte(s), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(string(bytes.Join(lines, []byte("\n"))))
}

// withOutput appends a process's output tail to err, when there is any.
func withOutput(err error, what, tail string) error {
	if tail == "" {
		return err
	}
	return fmt.Errorf("%w\n--- %s ---\n%s", err, what, tail)
}

// Process is a long-running program the caller started and owns — a youworker API, worker or MCP
// server in `youworker cluster` — with its output appended to a log file. Like the services, it
// runs in its own process group and dies with its parent.
type Process struct {
	Name string

	binary, logPath string
	args, env       []string

	mu sync.Mutex
	c  *child
}

// StartProcess starts binary with args and exactly env, appending its output to logPath.
func StartProcess(name, binary string, args, env []string, logPath string) (*Process, error) {
	p := &Process{Name: name, binary: binary, args: args, env: env, logPath: logPath}
	if err := p.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// Start starts the process again (after Kill or Stop) with the same arguments and environment;
// a running process is left alone.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil && !p.c.exited() {
		return nil
	}
	f, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: open log: %w", p.Name, err)
	}
	cmd := exec.Command(p.binary, p.args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, f, f
	c, err := startChild(cmd, syscall.SIGKILL)
	_ = f.Close() // the child has its own descriptor
	if err != nil {
		return fmt.Errorf("%s: start: %w", p.Name, err)
	}
	p.c = c
	return nil
}

// PID is the process id while it runs, else 0.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c == nil || p.c.exited() {
		return 0
	}
	return p.c.pid()
}

// Done is closed when the current run of the process has exited.
func (p *Process) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c.done
}

// Kill SIGKILLs the process group (a crash) and waits for the exit.
func (p *Process) Kill() {
	p.mu.Lock()
	c := p.c
	p.mu.Unlock()
	_ = c.stop(context.Background(), p.Name)
}

// Stop sends SIGTERM, waits up to grace for the process to exit (a drain), then SIGKILLs it.
func (p *Process) Stop(ctx context.Context, grace time.Duration) error {
	p.mu.Lock()
	c := p.c
	p.mu.Unlock()
	return c.stop(ctx, p.Name, stopStep{syscall.SIGTERM, grace})
}
