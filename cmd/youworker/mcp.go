package main

import (
	"context"
	"errors"
	"flag"
	"os"

	"github.com/youworker/youworker/mcpservers/datetime"
)

// runMCP serves one of the built-in MCP tool servers over streamable HTTP (endpoint /mcp).
func runMCP(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: youworker mcp datetime [--addr host:port]")
	}
	name, rest := args[0], args[1:]
	fs := flag.NewFlagSet("mcp "+name, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8091", "listen address")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	log := newCLILogger(os.Stderr).With("component", "mcp-"+name)
	switch name {
	case "datetime":
		return datetime.ListenAndServe(ctx, *addr, datetime.Options{Logger: log})
	}
	return errors.New("unknown MCP server " + name + " (known: datetime)")
}
