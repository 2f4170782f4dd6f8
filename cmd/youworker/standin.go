package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"time"

	"github.com/youworker/youworker/standin/ollama"
	"github.com/youworker/youworker/standin/qdrant"
	"github.com/youworker/youworker/standin/whisper"
)

// runStandin serves the Ollama stand-in: a scripted test double speaking Ollama's wire protocol,
// for tests, benchmarks and offline development. It is not a language model.
func runStandin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ollama-standin", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:11434", "listen address")
	delay := fs.Duration("token-delay", 0, "delay between streamed tokens")
	dim := fs.Int("dimension", 768, "embedding dimension")
	strict := fs.Bool("strict-models", false, "404 for models it does not advertise")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("component", "ollama-standin")
	return ollama.ListenAndServe(ctx, ollama.Options{
		TokenDelay: time.Duration(*delay), Dimension: *dim, StrictModels: *strict, Logger: log,
	}, *addr)
}

// runQdrantStandin serves the Qdrant stand-in: Qdrant's gRPC API over an in-memory store, a test
// double for running the production vector path (QDRANT_URL) where no Qdrant binary exists.
// Its points live as long as the process.
func runQdrantStandin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("qdrant-standin", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:6334", "gRPC listen address")
	apiKey := fs.String("api-key", "", "API key required on every call (QDRANT_API_KEY of the clients)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("component", "qdrant-standin")
	srv, err := qdrant.Listen(qdrant.Options{Addr: *addr, APIKey: *apiKey, Logger: log})
	if err != nil {
		return err
	}
	<-ctx.Done()
	srv.Stop()
	return nil
}

// runWhisperStandin serves the Whisper stand-in: a test double speaking the wire format of a
// Whisper-compatible transcription endpoint, which transcribes only audio made by whisper.Speak.
// Point WHISPER_URL at http://ADDR/v1/audio/transcriptions. It is not a speech recogniser.
func runWhisperStandin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("whisper-standin", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9300", "listen address")
	apiKey := fs.String("api-key", "", "bearer token required on every request (WHISPER_API_KEY of the clients)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("component", "whisper-standin")
	return whisper.ListenAndServe(ctx, whisper.Options{APIKey: *apiKey, Logger: log}, *addr)
}
