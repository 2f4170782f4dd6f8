package cli

import (
	"fmt"
	"io"
	"math"
	"sync/atomic"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// barsView draws a progress bar per source (bytes while uploading, then chunks embedded) and one
// for all of them; a finished source's bar gives way to its result line.
type barsView struct {
	p       *mpb.Progress
	overall *mpb.Bar
	failed  atomic.Int64
	nameW   int
}

func newBarsView(w io.Writer, sources []source) *barsView {
	v := &barsView{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(30), mpb.WithAutoRefresh())}
	for _, s := range sources {
		v.nameW = max(v.nameW, min(len([]rune(s.name)), 40))
	}
	v.overall = v.p.AddBar(int64(len(sources)), mpb.BarPriority(math.MaxInt),
		mpb.PrependDecorators(decor.Name("all", decor.WC{W: v.nameW + 1, C: decor.DindentRight}),
			decor.CountersNoUnit("%d/%d done", decor.WC{W: 12, C: decor.DindentRight})),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			if n := v.failed.Load(); n > 0 {
				return fmt.Sprintf("%d failed", n)
			}
			return ""
		})))
	return v
}

func (v *barsView) start(s source) itemView {
	it := &barItem{v: v}
	it.state.Store("upload")
	if s.url != "" {
		it.state.Store("submit")
	}
	total := s.size
	if total <= 0 {
		total = 1
	}
	it.bar = v.p.AddBar(total, mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(clip(s.name, 40), decor.WC{W: v.nameW + 1, C: decor.DindentRight}),
			decor.Any(func(decor.Statistics) string { return it.state.Load().(string) }, decor.WC{W: 12, C: decor.DindentRight})),
		mpb.AppendDecorators(decor.Any(func(st decor.Statistics) string {
			if it.chunks.Load() {
				return fmt.Sprintf("%d/%d chunks", st.Current, st.Total)
			}
			return fmt.Sprintf("% .1f / % .1f", decor.SizeB1024(st.Current), decor.SizeB1024(st.Total))
		})))
	return it
}

func (v *barsView) note(msg string) { fmt.Fprintf(v.p, "youworker: %s\n", msg) }

func (v *barsView) wait() {
	v.overall.SetTotal(-1, true)
	v.p.Wait()
}

type barItem struct {
	v      *barsView
	bar    *mpb.Bar
	state  atomic.Value // the stage shown
	chunks atomic.Bool  // the bar counts chunks (else bytes)
}

func (it *barItem) sent(n int64) { it.bar.IncrInt64(n) }

func (it *barItem) accepted(string) {
	it.state.Store("queued")
	it.bar.SetCurrent(0)
}

func (it *barItem) stage(stage string, done, total int) {
	it.state.Store(stage)
	it.progress(done, total)
}

func (it *barItem) progress(done, total int) {
	if total <= 0 {
		return
	}
	it.chunks.Store(true)
	it.bar.SetTotal(int64(total), false)
	it.bar.SetCurrent(int64(done))
}

func (it *barItem) finish(r ingestResult) {
	mark := "✓"
	if !r.ok() {
		mark = "✗"
		it.v.failed.Add(1)
	}
	fmt.Fprintf(it.v.p, "%s %s\n", mark, r.describe())
	it.bar.SetTotal(-1, true)
	it.v.overall.Increment()
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}
