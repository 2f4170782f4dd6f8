package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the README's benchmark section from bench/results")

// TestREADMEBenchSection keeps the README's benchmark numbers equal to bench/results/*.json: the
// section is rendered from them (`make bench` and `make docs` regenerate it, with -update).
func TestREADMEBenchSection(t *testing.T) {
	turns, ingest, err := readResults("results")
	require.NoError(t, err)
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	s := string(readme)
	i, j := strings.Index(s, readmeBegin), strings.Index(s, readmeEnd)
	require.True(t, i >= 0 && j > i, "README.md lacks the bench:begin/bench:end markers")
	want := s[:i+len(readmeBegin)] + readmeSection(turns, ingest) + s[j:]
	if *update {
		require.NoError(t, os.WriteFile("../README.md", []byte(want), 0o644))
		return
	}
	require.Equal(t, want, s, "README.md's benchmark section differs from bench/results: run make docs")
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 16000: "16,000", 100000: "100,000", 1234567: "1,234,567"} {
		require.Equal(t, want, thousands(n))
	}
}
