package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/youworker/youworker/client"
)

// runSessions lists the caller's chat sessions, most recent first.
func runSessions(ctx context.Context, a *app, args []string) error {
	return listRecent(ctx, a, args, (*client.Client).Sessions, []string{"ID", "TITLE", "LAST TURN", "MODEL"},
		func(s client.Session) []string {
			return []string{s.ID, a.cell(s.Title, 50), when(s.LastTurnAt), s.Model}
		})
}

// runRuns lists the caller's ingestion runs, most recent first.
func runRuns(ctx context.Context, a *app, args []string) error {
	return listRecent(ctx, a, args, (*client.Client).Runs, []string{"ID", "STATUS", "STAGE", "CHUNKS", "DOCUMENT", "CREATED", "ERROR"},
		func(r client.Run) []string {
			chunks := ""
			if r.ChunksTotal > 0 {
				chunks = fmt.Sprintf("%d/%d", r.ChunksDone, r.ChunksTotal)
			}
			return []string{r.ID, r.Status, r.Stage, chunks, r.DocumentID, when(&r.CreatedAt), a.cell(r.Error.String(), 60)}
		})
}

// listRecent is a list command: --limit of the most recent items fetched, printed as JSON or a
// table of header and one row per item.
func listRecent[T any](ctx context.Context, a *app, args []string, fetch func(*client.Client, context.Context, int) ([]T, error),
	header []string, row func(T) []string) error {
	fs := a.flags(true)
	limit := fs.Int("limit", 20, "how many to list (most recent first)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *limit < 1 {
		return usagef("--limit must be at least 1, got %d", *limit)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	items, err := fetch(c, ctx, *limit)
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.printJSON(items)
	}
	return a.table(header, len(items), func(i int) []string { return row(items[i]) })
}

// runSearch searches the caller's documents.
func runSearch(ctx context.Context, a *app, args []string) error {
	fs := a.flags(true)
	topK := fs.Int("top-k", 5, "how many results (1-50)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	query := strings.TrimSpace(strings.Join(pos, " "))
	if query == "" {
		return usagef(`no query: youworker search "QUERY"`)
	}
	if *topK < 1 || *topK > 50 {
		return usagef("--top-k must be between 1 and 50, got %d", *topK)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	hits, err := c.Search(ctx, query, *topK)
	if err != nil {
		return err
	}
	if a.jsonOut {
		if hits == nil {
			hits = []client.Hit{}
		}
		return a.printJSON(hits)
	}
	if len(hits) == 0 {
		fmt.Fprintln(a.env.Stderr, "no results")
		return nil
	}
	return a.table([]string{"SCORE", "DOCUMENT", "PAGE", "TEXT"}, len(hits), func(i int) []string {
		h := hits[i]
		page := ""
		if h.Page != nil {
			page = strconv.Itoa(*h.Page)
		}
		title := h.DocumentTitle
		if title == "" {
			title = h.DocumentID
		}
		return []string{fmt.Sprintf("%.3f", h.Score), a.cell(title, 30), page, a.cell(h.Text, 80)}
	})
}

func noArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	return nil
}

// table writes aligned columns; cells are on one line each.
func (a *app) table(header []string, n int, row func(int) []string) error {
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
	writeRow(tw, header)
	for i := range n {
		writeRow(tw, row(i))
	}
	return tw.Flush()
}

func writeRow(w io.Writer, cells []string) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(w, "\t")
		}
		fmt.Fprint(w, oneLine(c))
	}
	fmt.Fprintln(w)
}

// cell shortens a long text on a terminal; piped output keeps it whole.
func (a *app) cell(s string, n int) string {
	s = oneLine(s)
	if !a.env.StdoutTTY {
		return s
	}
	return shorten(s, n)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return s
}

func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}
