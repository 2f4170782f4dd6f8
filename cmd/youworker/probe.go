package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

const probeUsage = "usage: youworker probe [--timeout 5s] URL | youworker probe --mcp URL | youworker probe --worker"

// mcpPing is the MCP ping request: every server answers it, stateless ones without a session.
const mcpPing = `{"jsonrpc":"2.0","id":1,"method":"ping"}`

// runProbe is the container health check of an image that has no curl or wget. With a URL it
// GETs it and succeeds on a 2xx answer; with --mcp it sends the URL an MCP ping; with --worker
// it succeeds when this host's worker (its Temporal identity is pid@hostname@) polled the task
// queue within the last minute, reading TEMPORAL_ADDRESS and the rest from the environment.
func runProbe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	mcp := fs.Bool("mcp", false, "send an MCP ping (POST) instead of a GET")
	worker := fs.Bool("worker", false, "check that this host's worker polls its Temporal task queue")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *worker {
		if fs.NArg() != 0 {
			return errors.New(probeUsage)
		}
		return probeWorker(ctx, stdout)
	}
	if fs.NArg() != 1 {
		return errors.New(probeUsage)
	}
	url := fs.Arg(0)
	method, body := http.MethodGet, io.Reader(nil)
	if *mcp {
		method, body = http.MethodPost, strings.NewReader(mcpPing)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if *mcp {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("probe: %s answered %s", url, resp.Status)
	}
	if *mcp && !strings.Contains(string(answer), `"result"`) {
		return fmt.Errorf("probe: %s answered the MCP ping without a result: %.200s", url, answer)
	}
	fmt.Fprintln(stdout, url, resp.Status)
	return nil
}

func probeWorker(ctx context.Context, stdout io.Writer) error {
	cfg, log, err := loadConfig()
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	tc, err := client.DialContext(ctx, temporalOptions(cfg, log))
	if err != nil {
		return fmt.Errorf("probe: connect to temporal at %s: %w", cfg.TemporalAddress, err)
	}
	defer tc.Close()
	resp, err := tc.DescribeTaskQueue(ctx, cfg.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return fmt.Errorf("probe: describe task queue %s: %w", cfg.TaskQueue, err)
	}
	if err := pollingFrom(resp, host, time.Now()); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "worker on", host, "polls", cfg.TaskQueue)
	return nil
}

// pollingFrom reports whether a worker on host (the SDK's default identity is pid@host@) polled
// within the minute before now.
func pollingFrom(resp *workflowservice.DescribeTaskQueueResponse, host string, now time.Time) error {
	for _, p := range resp.GetPollers() {
		if !strings.Contains(p.GetIdentity(), "@"+host+"@") {
			continue
		}
		if t := p.GetLastAccessTime(); t != nil && now.Sub(t.AsTime()) < time.Minute {
			return nil
		}
	}
	return fmt.Errorf("probe: no worker on %s polled the task queue in the last minute", host)
}
