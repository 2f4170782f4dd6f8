package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReadStatCountsReapedChildren: a process's CPU includes its reaped children's (cutime,
// cstime), where a Postgres backend's or an autovacuum worker's CPU goes when it exits.
func TestReadStatCountsReapedChildren(t *testing.T) {
	dir := t.TempDir()
	// pid (comm with spaces) state ppid … utime=11 stime=12 cutime=13 cstime=14 …
	stat := "4242 (postgres: a b) S 7 4242 4242 0 -1 4194560 100 0 0 0 11 12 13 14 20 0 1 0 5 1000 10\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
	p, ok := readStat(dir)
	require.True(t, ok)
	require.Equal(t, 7, p.ppid)
	require.Equal(t, "postgres: a b", p.comm)
	require.EqualValues(t, 11+12+13+14, p.ticks)
}

// TestSampleCPUSeesAnExitedChildsCPU: CPU burnt by a child that has exited and been reaped still
// shows in the sample of this process.
func TestSampleCPUSeesAnExitedChildsCPU(t *testing.T) {
	before := sampleCPU()["bench"]
	// A child that does a fixed amount of work (about 0.2 s of CPU), then exits and is reaped.
	cmd := exec.Command("sh", "-c", `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done`)
	require.NoError(t, cmd.Run())
	child := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	grew := sampleCPU()["bench"] - before
	require.GreaterOrEqual(t, grew*int64(time.Second/clockTicks), int64(child)*9/10-int64(2*time.Second/clockTicks),
		"the sample grew %d ticks; the child used %s", grew, child)
	require.Greater(t, child, 50*time.Millisecond, "the child did too little work to tell")
}

// TestCPURatio: the ratio sums every process's growth on each side.
func TestCPURatio(t *testing.T) {
	turn0 := cpuSample{"bench": 10, "postgres": 100, "temporal": 1000}
	turn1 := cpuSample{"bench": 20, "postgres": 150, "temporal": 1100}  // 160 ticks
	floor1 := cpuSample{"bench": 60, "postgres": 150, "temporal": 1180} // 120 ticks after turn1
	require.InDelta(t, 160.0/120.0, cpuRatio(turn0, turn1, turn1, floor1), 1e-9)
	require.Equal(t, 1.33, roundRatio(cpuRatio(turn0, turn1, turn1, floor1)))
	require.Zero(t, cpuRatio(turn0, turn1, turn1, turn1), "a floor that used nothing has no ratio")
}
