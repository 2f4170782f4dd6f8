package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/youworker/youworker/activities/spec"
	"github.com/youworker/youworker/extract/fixtures"
)

// scannedTexts are the pages of a scanned PDF, one animal each.
var scannedTexts = []string{
	"Zebras graze near quiet lagoons", "Walruses sunbathe on pebbly beaches", "Otters juggle smooth stones",
	"Beavers build sturdy wooden dams", "Pelicans scoop fish from the bay", "Hedgehogs snuffle through autumn leaves",
	"Flamingos balance gracefully on one leg", "Tortoises plod along sandy dunes",
}

// TestScannedAndMixedPDFsBecomeSearchable: a PDF of page images (no text layer) is OCRed page by
// page, announcing each page, and found by a word only its images contain; a mixed PDF keeps its
// text page and OCRs the others.
func TestScannedAndMixedPDFsBecomeSearchable(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"CHUNK_MAX_TOKENS": "20", "CHUNK_OVERLAP": "0"}).start()
	u := p.signup("sasha")
	scanned, err := fixtures.ScannedPDF(scannedTexts[:2])
	require.NoError(t, err)
	mixed, err := fixtures.ScannedPDF([]string{"Quokkas smile at curious hikers", "Typed minutes of the harbour committee meeting", "Narwhals wave spiral tusks"}, 2)
	require.NoError(t, err)

	r := u.upload("scan.pdf", scanned, nil)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	evs := collect(t, must(u.stream(context.Background(), r.json(t)["events_url"].(string), 0)), 90*time.Second)
	require.Equal(t, "run.completed", evs[len(evs)-1].Type, "%v", evs[len(evs)-1].Data)
	var pages []float64
	for _, e := range evs {
		if e.Type == "page" {
			require.Equal(t, "extract", e.Data["stage"])
			require.EqualValues(t, 2, e.Data["pages_total"])
			pages = append(pages, e.Data["page"].(float64))
		}
	}
	require.Equal(t, []float64{1, 2}, pages, "one page event a page: %v", types(evs))
	scanID := r.json(t)["document_id"].(string)

	mixedID, last := u.ingested(u.upload("mixed.pdf", mixed, nil), 90*time.Second)
	require.Equal(t, "run.completed", last.Type, "%v", last.Data)

	// The command line shows the pages as they are OCRed.
	c := newCLIUser(t, nil)
	require.Equal(t, 0, c.run(u.apiKey()+"\n", "login", "--url", p.apiURL).code)
	more, err := fixtures.ScannedPDF(scannedTexts[2:4])
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "more.pdf")
	require.NoError(t, os.WriteFile(path, more, 0o600))
	cr := c.run("", "ingest", path)
	require.Equal(t, 0, cr.code, "%s", cr)
	require.Contains(t, cr.stdout, path+": extract: OCR 1/2 pages\n"+path+": extract: OCR 2/2 pages\n")

	for _, tc := range []struct{ query, doc string }{
		{"walruses sunbathe on pebbly beaches", scanID},
		{"narwhals wave spiral tusks", mixedID},
		{"typed minutes of the harbour committee meeting", mixedID},
	} {
		hits := u.search(tc.query)
		require.NotEmpty(t, hits, tc.query)
		require.Equal(t, tc.doc, hits[0]["document_id"], "%s: %v", tc.query, hits)
	}
	for _, h := range u.search("typed minutes of the harbour committee meeting") {
		if h["document_id"] == mixedID {
			require.Contains(t, h["text"], "Typed minutes of the harbour committee meeting", "kept as typed, not OCRed")
			break
		}
	}
}

// TestWorkerKilledMidOCR SIGKILLs the worker while it OCRs a scanned PDF: a new worker resumes at
// the next page, the run completes, the document is found by a word of its last pages, and every
// page was OCRed once (one page event each, those after the kill from the second attempt).
func TestWorkerKilledMidOCR(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"CHUNK_MAX_TOKENS": "20", "CHUNK_OVERLAP": "0"})
	w := p.startWorker()
	p.startAPI()
	u := p.signup("tomas")
	pdf, err := fixtures.ScannedPDF(scannedTexts)
	require.NoError(t, err)
	r := u.upload("scan.pdf", pdf, nil)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	ch := must(u.stream(context.Background(), r.json(t)["events_url"].(string), 0))
	evs := until(t, ch, "page", 90*time.Second)
	evs = append(evs, until(t, ch, "page", 30*time.Second)...)
	// The Temporal UI shows the page progress: the pending Prepare's heartbeat details.
	tc, err := client.Dial(client.Options{HostPort: p.env["TEMPORAL_ADDRESS"], Namespace: p.env["TEMPORAL_NAMESPACE"]})
	require.NoError(t, err)
	defer tc.Close()
	var prog spec.OCRProgress
	require.Eventually(t, func() bool {
		desc, err := tc.DescribeWorkflowExecution(context.Background(), ingestWorkflowID(t, r), "")
		if err != nil {
			return false
		}
		for _, a := range desc.GetPendingActivities() {
			if a.GetActivityType().GetName() == spec.Prepare && a.GetHeartbeatDetails() != nil &&
				converter.GetDefaultDataConverter().FromPayloads(a.GetHeartbeatDetails(), &prog) == nil {
				return prog.PagesDone >= 2
			}
		}
		return false
	}, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, len(scannedTexts), prog.PagesTotal)
	require.Equal(t, "extract", prog.Stage)
	w.kill()
	killedAt := time.Now()
	p.startWorker()
	evs = append(evs, collect(t, ch, 120*time.Second)...)
	require.Equal(t, "run.completed", evs[len(evs)-1].Type, "%v", evs[len(evs)-1].Data)

	ocred := map[int]int{}
	attempts := map[float64]int{}
	for _, e := range evs {
		if e.Type == "page" {
			ocred[int(e.Data["page"].(float64))]++
			attempts[e.Data["attempt"].(float64)]++
		}
	}
	for page := 1; page <= len(scannedTexts); page++ {
		require.Equal(t, 1, ocred[page], "page %d OCRed once: %v", page, ocred)
	}
	require.GreaterOrEqual(t, attempts[1], 2, "pages done before the kill: %v", attempts)
	require.Less(t, attempts[1], len(scannedTexts), "the kill came mid-document: %v", attempts)
	t.Logf("pages by attempt %v; resumed and finished %s after the kill", attempts, time.Since(killedAt).Round(time.Millisecond))

	id := r.json(t)["document_id"].(string)
	hits := u.search("flamingos balance gracefully on one leg")
	require.NotEmpty(t, hits)
	require.Equal(t, id, hits[0]["document_id"], "%v", hits)
	run := u.do("GET", "/v1/ingestion-runs/"+r.json(t)["ingestion_run_id"].(string), nil).json(t)
	require.GreaterOrEqual(t, run["attempts"], float64(2))
	var kept int
	require.NoError(t, openDB(t, p).QueryRow(`SELECT count(*) FROM document_ocr_pages WHERE document_id = $1`, id).Scan(&kept))
	require.Zero(t, kept, "the pages kept for the run go with it")
	recordHistory(t, p, ingestWorkflowID(t, r), "ingest_ocr_worker_killed")
}
