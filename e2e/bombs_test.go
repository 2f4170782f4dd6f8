package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/extract/fixtures"
)

// vmHWM reads a process's peak resident set size (VmHWM) from /proc, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// TestBombsFailOnceAndTheWorkerSurvives uploads three decompression bombs and a parser bomb at
// once, with the default extraction limits: a PNG declaring 50000×50000 pixels, a DOCX whose
// document.xml inflates to 250 MiB, a PDF whose content stream inflates to 256 MiB of numbers
// (which poppler turns into gigabytes of objects) and 16 MiB of Markdown paragraphs (some 3 GiB
// of parse tree). Each run fails with BAD_DOCUMENT after exactly one attempt and within two
// minutes, the worker's peak RSS stays under 1 GiB, and a normal document uploaded next is
// ingested.
func TestBombsFailOnceAndTheWorkerSurvives(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	w := p.startWorker()
	p.startAPI()
	u := p.signup("bombardier")

	png, err := fixtures.PNGBomb(50000, 50000)
	require.NoError(t, err)
	docx, err := fixtures.DOCXBomb(250 << 20)
	require.NoError(t, err)
	pdf, err := fixtures.PDFBomb(256 << 20)
	require.NoError(t, err)
	type upload struct {
		name  string
		start time.Time
		resp  reply
	}
	var ups []upload
	for _, b := range []struct {
		name string
		data []byte
	}{{"bomb.png", png}, {"bomb.docx", docx}, {"bomb.pdf", pdf}, {"bomb.md", bytes.Repeat([]byte("a\n\n"), (16<<20)/3)}} {
		ups = append(ups, upload{name: b.name, start: time.Now(), resp: u.upload(b.name, b.data, nil)})
	}
	for _, up := range ups {
		require.Equal(t, http.StatusAccepted, up.resp.status, "%s: %s", up.name, up.resp.body)
		m := up.resp.json(t)
		evs := collect(t, must(u.stream(context.Background(), m["events_url"].(string), 0)), 2*time.Minute-time.Since(up.start))
		took := time.Since(up.start)
		last := evs[len(evs)-1]
		require.Equal(t, "run.failed", last.Type, "%s: %v", up.name, last.Data)
		e := last.Data["error"].(map[string]any)
		require.Equal(t, "BAD_DOCUMENT", e["code"], "%s: %v", up.name, e)
		require.Less(t, took, 2*time.Minute, up.name)
		run := u.do("GET", "/v1/ingestion-runs/"+m["ingestion_run_id"].(string), nil).json(t)
		require.EqualValues(t, 1, run["attempts"], "%s is not retried", up.name)
		t.Logf("%s: %s after %s", up.name, e["message"], took.Round(time.Millisecond))
		if up.name == "bomb.pdf" {
			recordHistory(t, p, ingestWorkflowID(t, up.resp), "ingest_bad_document")
		}
	}
	hwm := vmHWM(t, w.cmd.Process.Pid)
	t.Logf("worker peak RSS: %d MiB", hwm>>20)
	require.Less(t, hwm, int64(1<<30), "worker peak RSS")

	_, last := u.ingested(u.upload("after.md", []byte("# After the bombs\n\nThe worker still ingests ordinary notes about tulips.\n"), nil), 60*time.Second)
	require.Equal(t, "run.completed", last.Type, "%v", last.Data)
	require.NotContains(t, p.logs.String(), "youworker-extract not found", "the slim sandbox binary parses, not youworker itself")
}
