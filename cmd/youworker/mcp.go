package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/mcpservers"
	"github.com/youworker/youworker/mcpservers/datetime"
	"github.com/youworker/youworker/mcpservers/ingest"
	"github.com/youworker/youworker/mcpservers/semantic"
	"github.com/youworker/youworker/mcpservers/web"
	"github.com/youworker/youworker/telemetry"
)

const mcpUsage = "usage: youworker mcp datetime|semantic|ingest|web [--addr host:port]"

// defaultMCPAddr is where a built-in MCP server listens unless --addr says otherwise: loopback,
// so that a server is reachable from other machines only when its operator says so.
const defaultMCPAddr = "127.0.0.1:8091"

// mcpAddr reads the flags of `youworker mcp NAME`.
func mcpAddr(name string, args []string) (string, error) {
	fs := flag.NewFlagSet("mcp "+name, flag.ContinueOnError)
	addr := fs.String("addr", defaultMCPAddr, "listen address (default loopback; give e.g. 0.0.0.0:8091 to serve other machines)")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	return *addr, nil
}

// runMCP serves one of the built-in MCP tool servers over streamable HTTP (endpoint /mcp).
// datetime needs no configuration but MCP_ALLOWED_ORIGINS; semantic and ingest read the full
// configuration (they reach Postgres, the vector store, Ollama and Temporal).
func runMCP(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(mcpUsage)
	}
	name := args[0]
	addr, err := mcpAddr(name, args[1:])
	if err != nil {
		return err
	}
	if name == datetime.Name {
		origins, err := config.MCPOriginsFromEnv()
		if err != nil {
			return err
		}
		log := newCLILogger(os.Stderr).With("component", "mcp-"+name)
		stopTracing, err := startTracing(ctx, telemetry.ServiceMCP(name), log)
		if err != nil {
			return err
		}
		defer stopTracing()
		return datetime.ListenAndServe(ctx, addr, datetime.Options{Logger: log, AllowedOrigins: origins})
	}
	cfg, log, err := loadConfig()
	if err != nil {
		return err
	}
	stopTracing, err := startTracing(ctx, telemetry.ServiceMCP(name), log)
	if err != nil {
		return err
	}
	defer stopTracing()
	a, err := newApp(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer a.close()
	h, err := a.mcpHandler(name)
	if err != nil {
		return err
	}
	return mcpservers.ListenAndServe(ctx, name, addr, h, log)
}

// mcpHandler builds a built-in server that needs the platform's clients.
func (a *app) mcpHandler(name string) (http.Handler, error) {
	log := a.log.With("component", "mcp-"+name)
	switch name {
	case semantic.Name:
		return semantic.Handler(semantic.Deps{Searcher: a.searcher, Store: a.store, IdentityKeys: a.cfg.IdentityKeys(), Logger: log,
			AllowedOrigins: a.cfg.MCPOrigins}), nil
	case ingest.Name:
		return ingest.Handler(ingest.Deps{Intake: a.intake, Store: a.store, IdentityKeys: a.cfg.IdentityKeys(), Logger: log,
			AllowedOrigins: a.cfg.MCPOrigins}), nil
	case web.Name:
		x, err := newExtractor(a.cfg, log)
		if err != nil {
			return nil, err
		}
		return web.Handler(web.Deps{Guard: a.guard, Extractor: x, SearchURL: a.cfg.WebSearchURL,
			MaxResultChars: a.cfg.ToolResultMax, TempDir: tempDir(a.cfg), IdentityKeys: a.cfg.IdentityKeys(), Logger: log,
			AllowedOrigins: a.cfg.MCPOrigins}), nil
	}
	return nil, errors.New("unknown MCP server " + name + "; " + mcpUsage)
}
