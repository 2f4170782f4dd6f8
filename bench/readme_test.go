package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the README's and docs/operations.md's benchmark sections from bench/results")

// TestREADMEBenchSection keeps the benchmark numbers of the README and docs/operations.md equal
// to bench/results/*.json: the sections are rendered from them (`make bench` and `make docs`
// regenerate them, with -update).
func TestREADMEBenchSection(t *testing.T) {
	res, err := readResults("results")
	require.NoError(t, err)
	for _, doc := range []struct{ path, begin, body string }{
		{"../README.md", readmeBegin, readmeSection(res)},
		{"../docs/operations.md", clusterBegin, clusterSection(res.cluster)},
		{"../docs/operations.md", analyticsBegin, analyticsSection(res.analytics)},
	} {
		b, err := os.ReadFile(doc.path)
		require.NoError(t, err)
		s := string(b)
		i := strings.Index(s, doc.begin)
		j := strings.Index(s[max(i, 0):], readmeEnd) + max(i, 0)
		require.True(t, i >= 0 && j > i, "%s lacks the bench:begin/bench:end markers", doc.path)
		want := s[:i+len(doc.begin)] + doc.body + s[j:]
		if *update {
			require.NoError(t, os.WriteFile(doc.path, []byte(want), 0o644))
			continue
		}
		require.Equal(t, want, s, "%s's benchmark section differs from bench/results: run make docs", doc.path)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 16000: "16,000", 100000: "100,000", 1234567: "1,234,567"} {
		require.Equal(t, want, thousands(n))
	}
}
