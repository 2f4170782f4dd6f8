package devservices

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// TemporalOptions configures StartTemporal.
type TemporalOptions struct {
	// Binary is the Temporal CLI; "" means <repo root>/bin/temporal, built by `make tools`.
	Binary string
	// DBFile keeps the server's state in this SQLite file across restarts; "" keeps it in memory.
	DBFile string
	// Port is the frontend gRPC port on 127.0.0.1; 0 picks a free one.
	Port int
	// UIPort is the Web UI port; 0 picks a free one. Ignored when Headless.
	UIPort int
	// Headless runs without the Web UI (tests).
	Headless bool
	// Namespace is created at start-up; "" means "default", which always exists.
	Namespace string
	// SearchAttributes maps custom search attribute names to their types ("Keyword", "Text",
	// "Int", "Double", "Bool", "Datetime", "KeywordList"); they are registered at start-up.
	SearchAttributes map[string]string
	// ExtraArgs are appended to `temporal server start-dev`, e.g. FastDispatchArgs().
	ExtraArgs []string
	// LogFile receives the server's output; "" discards it (its tail still ends up in errors).
	LogFile string
	Logger  *slog.Logger
}

// Temporal is a running Temporal dev server, owned by this process.
type Temporal struct {
	// Address is the frontend's host:port, for client.Options.HostPort.
	Address string
	// UIURL is the Web UI's base URL; "" when headless.
	UIURL     string
	Namespace string

	proc     *child
	out      *tailBuffer
	log      *slog.Logger
	inMemory bool
}

const (
	temporalStopWait = 10 * time.Second
	outputTailBytes  = 8 << 10
)

// FastDispatchArgs returns the dev-server flags that remove its dispatch latency, for tests and
// `youworker dev`:
//
//   - history.{transfer,timer,visibility}ProcessorMaxPollRPS (default 20): the history service
//     reads each of its task queues at most 20 times a second, so a workflow that runs activities
//     one after another waits 50–100 ms per step; at 1000 a step takes ~10 ms.
//   - system.enableActivityEagerExecution (default false in server 1.29, the one in the CLI):
//     an activity scheduled by a workflow task is handed straight back to the worker that
//     completed it, skipping the matching service.
//   - history.timerProcessorMaxTimeShift (default 1s): no timer fires sooner than 1 s after it
//     is created, so workflow.Sleep(10*time.Millisecond), a short retry backoff or a short
//     activity timeout all take a full second; at 10ms they take about their duration. This
//     look-ahead guards against clock skew between hosts, which a one-process server has not.
//
// Production clusters leave the poll rates alone (under load the queues are rarely idle, and
// the defaults protect the database) and keep the 1 s timer shift. Eager activity execution is
// worth turning on there too, in the server's dynamic config file
// (system.enableActivityEagerExecution: - value: true); SDK workers request it by default.
func FastDispatchArgs() []string {
	return []string{
		"--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
		"--dynamic-config-value", "history.timerProcessorMaxPollRPS=1000",
		"--dynamic-config-value", "history.visibilityProcessorMaxPollRPS=1000",
		"--dynamic-config-value", "system.enableActivityEagerExecution=true",
		"--dynamic-config-value", `history.timerProcessorMaxTimeShift="10ms"`,
	}
}

// StartTemporal starts `temporal server start-dev` and returns once the frontend answers health
// checks, the namespace exists and the search attributes are registered. A missing binary is
// reported with an error that matches fs.ErrNotExist.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*Temporal, error) {
	ctx, cancel := startContext(ctx)
	defer cancel()

	binary := opts.Binary
	if binary == "" {
		root, err := RepoRoot()
		if err != nil {
			return nil, fmt.Errorf("temporal: %w", err)
		}
		binary = filepath.Join(root, "bin", "temporal")
	}
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("temporal: CLI not found at %s (build it with `make tools`): %w", binary, err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("service", "temporal")
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.DBFile != "" {
		if err := os.MkdirAll(filepath.Dir(opts.DBFile), 0o755); err != nil {
			return nil, fmt.Errorf("temporal: %w", err)
		}
	}

	// Another process may take a port between our choosing it and the server binding it.
	autoPort := opts.Port == 0 || (!opts.Headless && opts.UIPort == 0)
	for attempt := 1; ; attempt++ {
		t, err := startTemporalOnce(ctx, binary, opts, logger)
		if err == nil {
			return t, nil
		}
		if !autoPort || !errors.Is(err, errPortTaken) || attempt == portAttempts {
			return nil, err
		}
		logger.Warn("port taken before the dev server bound it, retrying", "error", err)
	}
}

func startTemporalOnce(ctx context.Context, binary string, opts TemporalOptions, logger *slog.Logger) (*Temporal, error) {
	port, uiPort := opts.Port, opts.UIPort
	var err error
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if !opts.Headless && uiPort == 0 {
		if uiPort, err = freePort(); err != nil {
			return nil, err
		}
	}

	args := []string{"server", "start-dev",
		"--ip", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--log-level", "warn",
	}
	if opts.Headless {
		args = append(args, "--headless")
	} else {
		args = append(args, "--ui-port", strconv.Itoa(uiPort))
	}
	if opts.DBFile != "" {
		args = append(args, "--db-filename", opts.DBFile)
	}
	if opts.Namespace != "default" {
		args = append(args, "--namespace", opts.Namespace)
	}
	names := make([]string, 0, len(opts.SearchAttributes))
	for name := range opts.SearchAttributes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		args = append(args, "--search-attribute", name+"="+opts.SearchAttributes[name])
	}
	args = append(args, opts.ExtraArgs...)

	out := newTailBuffer(outputTailBytes)
	var w io.Writer = out
	var logFile *os.File
	if opts.LogFile != "" {
		if logFile, err = os.OpenFile(opts.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return nil, fmt.Errorf("temporal: open log: %w", err)
		}
		w = io.MultiWriter(logFile, out)
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = w, w
	proc, err := startChild(cmd, syscall.SIGKILL)
	if err != nil {
		if logFile != nil {
			_ = logFile.Close()
		}
		return nil, fmt.Errorf("temporal: start %s: %w", binary, err)
	}
	if logFile != nil {
		// Close our handle once the output copier is done with it.
		go func() {
			<-proc.done
			_ = logFile.Close()
		}()
	}

	t := &Temporal{
		Address:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Namespace: opts.Namespace,
		proc:      proc,
		out:       out,
		log:       logger,
		inMemory:  opts.DBFile == "",
	}
	if !opts.Headless {
		t.UIURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(uiPort))
	}
	logger.Debug("temporal dev server starting", "pid", proc.pid(), "args", args)

	start := time.Now()
	if err := t.waitReady(ctx, opts.SearchAttributes); err != nil {
		_ = proc.stop(context.Background(), "temporal")
		return nil, err
	}
	logger.Info("temporal dev server ready", "pid", proc.pid(), "address", t.Address, "ui", t.UIURL,
		"namespace", t.Namespace, "took", time.Since(start).Round(time.Millisecond))
	return t, nil
}

// waitReady polls until the frontend is healthy, the namespace is served and every search
// attribute is registered.
func (t *Temporal) waitReady(ctx context.Context, searchAttributes map[string]string) error {
	var last error
	for {
		if t.proc.exited() {
			return t.exitError()
		}
		if last = t.probe(ctx, searchAttributes); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return withOutput(fmt.Errorf("temporal: dev server at %s not ready: %w (last error: %v)", t.Address, ctx.Err(), last),
				"temporal output", lastLines(t.out.String(), 20))
		case <-t.proc.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (t *Temporal) probe(ctx context.Context, searchAttributes map[string]string) error {
	ctx, cancel := t.proc.untilExit(ctx, 2*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  t.Address,
		Namespace: t.Namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return err
	}
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: t.Namespace}); err != nil {
		return err
	}
	if len(searchAttributes) == 0 {
		return nil
	}
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: t.Namespace})
	if err != nil {
		return err
	}
	for name := range searchAttributes {
		if _, ok := resp.GetCustomAttributes()[name]; !ok {
			return fmt.Errorf("search attribute %s not registered yet", name)
		}
	}
	return nil
}

func (t *Temporal) exitError() error {
	tail := lastLines(t.out.String(), 20)
	err := fmt.Errorf("temporal: dev server exited during start-up (%v)", t.proc.err)
	if strings.Contains(tail, "address already in use") {
		err = fmt.Errorf("temporal: %w", errPortTaken)
	}
	return withOutput(err, "temporal output", tail)
}

// Stop stops the dev server and waits for it to exit: SIGTERM, then SIGKILL if it has not exited
// within 10 s or when ctx ends. A server without a DBFile has nothing to save and gets SIGKILL at
// once (a graceful stop takes over a second). Stop is idempotent.
func (t *Temporal) Stop(ctx context.Context) error {
	var steps []stopStep
	if !t.inMemory {
		steps = append(steps, stopStep{syscall.SIGTERM, temporalStopWait})
	}
	err := t.proc.stop(ctx, "temporal", steps...)
	if err != nil {
		return withOutput(fmt.Errorf("temporal: stop: %w", err), "temporal output", lastLines(t.out.String(), 20))
	}
	t.log.Info("temporal dev server stopped", "address", t.Address)
	return nil
}
