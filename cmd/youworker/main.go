// Command youworker is the one YouWorker binary. Server commands:
//
//	youworker api                       serve the REST API
//	youworker worker                    run the Temporal worker
//	youworker migrate up|down|status    manage the database schema
//	youworker dev                       run the whole platform locally (what `make dev` calls)
//	youworker deployment status|set-current BUILD   the worker deployment's current build (versioned workers)
//	youworker cluster                   run the production topology on this machine (make cluster)
//	youworker ollama-standin            serve the scripted Ollama test double
//	youworker qdrant-standin            serve the in-memory Qdrant test double (gRPC)
//	youworker whisper-standin           serve the Whisper test double (transcription wire format)
//	youworker mcp NAME                  serve a built-in MCP tool server (datetime, semantic, ingest, web)
//	youworker keys rotate               re-encrypt data at rest with the current key
//	youworker keys generate             print a new encryption key
//	youworker env                       print the configuration variables (markdown)
//	youworker probe URL                 exit 0 when URL answers 2xx (container health checks)
//	youworker version                   print the version
//
// Client commands, which talk to a running API (package cli): login, logout, chat, ask, ingest,
// runs, search and sessions.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/youworker/youworker/cli"
	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/extract"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 && cli.IsCommand(os.Args[1]) {
		os.Exit(cli.Main(os.Args[1:], version)) // Ctrl-C belongs to the command (cancel a turn first)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "youworker:", err)
		}
		os.Exit(1)
	}
}

var usage = `usage: youworker <command> [flags]

server commands (run the platform; configured by environment variables, see README.md):
  api                     serve the REST API
  worker                  run the Temporal worker
  migrate up|down|status  manage the database schema
  dev                     run the whole platform locally (make dev)
  deployment status       the current build of WORKER_DEPLOYMENT_NAME (versioned workers)
  deployment set-current BUILD_ID
                          send new turns and ingestions to that build; running ones stay on theirs
  cluster                 run the production topology on this machine: Temporal server on Postgres + UI,
                          2 APIs, 2 workers, the MCP servers, the Qdrant path (make cluster)
  ollama-standin          serve the scripted Ollama test double (not a language model)
  qdrant-standin          serve the in-memory Qdrant test double (Qdrant's gRPC API, not Qdrant)
  whisper-standin         serve the Whisper test double (transcribes only whisper.Speak tones, not speech)
  mcp NAME                serve a built-in MCP tool server: datetime, semantic, ingest or web (streamable HTTP at /mcp)
  keys rotate             re-encrypt everything at rest with the first of FERNET_KEYS (a durable workflow)
  keys generate           print a new Fernet key for FERNET_KEYS
  env                     print every configuration variable with its default (markdown)
  probe URL               GET URL, succeed on a 2xx answer (the container health check; the image has no curl)
  extract-file TYPE PATH  parse one document and print it as JSON (the worker's sandbox, run under the EXTRACT_* limits)
  version                 print the version

` + cli.Usage()

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "api":
		return runAPI(ctx, rest)
	case "worker":
		return runWorker(ctx, rest)
	case "migrate":
		return runMigrate(ctx, rest, stdout)
	case "dev":
		return runDev(ctx, rest, stdout)
	case "cluster":
		return runCluster(ctx, rest, stdout)
	case "deployment":
		return runDeployment(ctx, rest, stdout)
	case "ollama-standin":
		return runStandin(ctx, rest)
	case "qdrant-standin":
		return runQdrantStandin(ctx, rest)
	case "whisper-standin":
		return runWhisperStandin(ctx, rest)
	case "mcp":
		return runMCP(ctx, rest)
	case "keys":
		return runKeys(ctx, rest, stdout)
	case "env":
		printEnvTable(stdout)
		return nil
	case "probe":
		return runProbe(ctx, rest, stdout)
	case "extract-file":
		return extract.RunChild(ctx, rest, stdout)
	case "version":
		fmt.Fprintln(stdout, "youworker", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func printEnvTable(w io.Writer) {
	fmt.Fprint(w, config.MarkdownTable())
}

func newCLILogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}
