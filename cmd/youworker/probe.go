package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

const probeUsage = "usage: youworker probe [--timeout 5s] URL | youworker probe --mcp URL"

// mcpPing is the MCP ping request: every server answers it, stateless ones without a session.
const mcpPing = `{"jsonrpc":"2.0","id":1,"method":"ping"}`

// runProbe is the container health check of an image that has no curl or wget. With a URL it
// GETs it and succeeds on a 2xx answer (the worker's is GET /health on WORKER_METRICS_ADDR);
// with --mcp it sends the URL an MCP ping.
func runProbe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	mcp := fs.Bool("mcp", false, "send an MCP ping (POST) instead of a GET")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
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
