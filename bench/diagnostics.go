package main

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// cpuSample is the CPU time (user+system, in clock ticks) of this bench's processes, grouped by
// what they are: postgres, temporal, the youworker api and worker, and this bench process
// (client, stand-in and floor worker). Only this process and its descendants count: tests or
// another bench running on the machine at the same time do not.
type cpuSample map[string]int64

const clockTicks = 100 // USER_HZ on Linux

// throughputRounds is how many interleaved rounds of turns and floor runs the throughput and CPU
// figures sum (-rounds).
var throughputRounds = 3

// add adds what each counter grew from before to after.
func (s cpuSample) add(before, after map[string]int64) {
	for g := range after {
		s[g] += after[g] - before[g]
	}
}

// procStat is what sampleCPU reads of one process.
type procStat struct {
	pid, ppid int
	comm      string
	ticks     int64
}

func sampleCPU() cpuSample {
	self := os.Getpid()
	procs := map[int]procStat{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if p, ok := readStat(d); ok {
			procs[p.pid] = p
		}
	}
	out := cpuSample{}
	for pid, p := range procs {
		if !descends(procs, pid, self) {
			continue
		}
		group := ""
		switch {
		case pid == self:
			group = "bench"
		case p.comm == "postgres":
			group = "postgres"
		case p.comm == "temporal" || p.comm == "temporal-server":
			group = "temporal"
		case p.comm == "youworker":
			cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
			if args := strings.Split(string(cmdline), "\x00"); len(args) > 1 {
				group = "youworker " + args[1]
			}
		}
		if group != "" {
			out[group] += p.ticks
		}
	}
	return out
}

// readStat parses /proc/<pid>/stat: the parent, the command and the CPU ticks used (its own and
// its reaped children's).
func readStat(dir string) (procStat, bool) {
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return procStat{}, false
	}
	// Fields after the command (which may hold spaces) start after the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 15 {
		return procStat{}, false
	}
	pid, _ := strconv.Atoi(filepath.Base(dir))
	ppid, _ := strconv.Atoi(f[1])
	// utime, stime, and the cutime and cstime of children already reaped: Postgres backends and
	// autovacuum workers come and go, and once one exits its CPU moves to the postmaster's
	// children times. A process is counted either alive (its own times) or reaped (its parent's),
	// so a sample misses none of it and counts nothing twice.
	var ticks int64
	for _, field := range f[11:15] {
		n, _ := strconv.ParseInt(field, 10, 64)
		ticks += n
	}
	return procStat{pid: pid, ppid: ppid, comm: s[strings.IndexByte(s, '(')+1 : i], ticks: ticks}, true
}

// descends reports whether pid is root or one of its descendants.
func descends(procs map[int]procStat, pid, root int) bool {
	for range len(procs) + 1 { // bounded: a cycle cannot hang it
		if pid == root {
			return true
		}
		p, ok := procs[pid]
		if !ok || p.ppid == 0 {
			return false
		}
		pid = p.ppid
	}
	return false
}

// perUnit returns how much each counter grew between two samples per unit of work, times scale,
// rounded to a tenth (CPU: scale converts clock ticks to milliseconds).
func perUnit(before, after map[string]int64, scale float64, units int) map[string]float64 {
	out := map[string]float64{}
	for g := range after {
		out[g] = math.Round(float64(after[g]-before[g])*scale/float64(units)*10) / 10
	}
	return out
}

// cpuRatio is the CPU all processes used from turn0 to turn1 over what they used from floor0 to
// floor1 (0 when the floor used none).
func cpuRatio(turn0, turn1, floor0, floor1 map[string]int64) float64 {
	var turn, floor int64
	for g := range turn1 {
		turn += turn1[g] - turn0[g]
	}
	for g := range floor1 {
		floor += floor1[g] - floor0[g]
	}
	if floor == 0 {
		return 0
	}
	return float64(turn) / float64(floor)
}

// roundRatio keeps a ratio's two decimals, the precision the figures are read at.
func roundRatio(r float64) float64 { return math.Round(r*100) / 100 }

// msPerTick converts clock ticks to milliseconds.
const msPerTick = 1000.0 / clockTicks

func cpuLine(m map[string]float64) string {
	groups := make([]string, 0, len(m))
	var total float64
	for g, v := range m {
		groups = append(groups, g)
		total += v
	}
	sort.Strings(groups)
	var b strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&b, "%s %.1f, ", g, m[g])
	}
	fmt.Fprintf(&b, "total %.1f", total)
	return b.String()
}

// printHistory prints the events of a workflow with their offsets from its start, to show where
// a turn's time goes on the Temporal side.
func printHistory(ctx context.Context, tc client.Client, workflowID string) {
	it := tc.GetWorkflowHistory(ctx, workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var start time.Time
	fmt.Println("\nhistory of", workflowID)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			fmt.Println(err)
			return
		}
		at := ev.GetEventTime().AsTime()
		if start.IsZero() {
			start = at
		}
		fmt.Printf("  %7.2f ms  %s\n", float64(at.Sub(start).Microseconds())/1000, ev.GetEventType())
	}
}

// printPhases shows, for the sequential turns of each latency run, when each event was written
// relative to the turn's start (the API stamps started_at before it stores the turn).
func printPhases(dsn string, sessions []string) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return
	}
	defer db.Close()
	for _, sess := range sessions {
		fmt.Println("\nphases of session", sess)
		rows, err := db.Query(`SELECT e.type || CASE WHEN e.type = 'token' THEN ' (first)' ELSE '' END,
			       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.created_at - t.started_at)) * 1000)::numeric, 2)
			FROM turn_events e JOIN turns t ON t.id = e.turn_id
			WHERE t.session_id = $1 AND (e.type <> 'token' OR e.key LIKE '%:tok:0')
			GROUP BY e.type ORDER BY 2`, sess)
		if err != nil {
			fmt.Println(err)
			return
		}
		for rows.Next() {
			var typ string
			var ms float64
			_ = rows.Scan(&typ, &ms)
			fmt.Printf("  %-20s %7.2f ms after started_at (p50)\n", typ, ms)
		}
		rows.Close()
	}
}

// pgCounters reads the bench database's cumulative session, commit and tuple counters, to tell
// per turn how many connections the platform opened and how many transactions it ran.
func pgCounters(dsn string) map[string]int64 {
	out := map[string]int64{}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return out
	}
	defer db.Close()
	var sessions, commits, inserted, updated int64
	if err := db.QueryRow(`SELECT sessions, xact_commit, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = current_database()`).
		Scan(&sessions, &commits, &inserted, &updated); err != nil {
		return out
	}
	return map[string]int64{"sessions": sessions, "commits": commits, "inserted": inserted, "updated": updated}
}
