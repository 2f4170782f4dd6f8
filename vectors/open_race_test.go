package vectors

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The API and the worker open the same embedded store when they start, often at the same moment:
// the first open of a new file in one process must not fail the other (SQLITE_BUSY while the
// file switches to WAL). Each round opens a new file from three processes at once.
func TestOpenSQLiteFromProcessesAtOnce(t *testing.T) {
	if path := os.Getenv("YW_VECTORS_OPEN"); path != "" {
		// The helper process: say it is ready, wait for the go file, open, close, report.
		ready, start := path+fmt.Sprintf(".ready%d", os.Getpid()), path+".go"
		if err := os.WriteFile(ready, nil, 0o600); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if _, err := os.Stat(start); err == nil {
				break
			}
		}
		s, err := OpenSQLite(path)
		if err == nil {
			err = s.Close()
		}
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		return
	}
	t.Parallel()
	for round := range 30 {
		path := filepath.Join(t.TempDir(), "vectors.db")
		var wg sync.WaitGroup
		outs := make([]string, 3)
		errs := make([]error, 3)
		for i := range outs {
			wg.Go(func() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestOpenSQLiteFromProcessesAtOnce$")
				cmd.Env = append(os.Environ(), "YW_VECTORS_OPEN="+path)
				out, err := cmd.CombinedOutput()
				outs[i], errs[i] = string(out), err
			})
		}
		// Let all three start, then open at once.
		require.Eventually(t, func() bool {
			ready, _ := filepath.Glob(path + ".ready*")
			return len(ready) == len(outs)
		}, 30*time.Second, time.Millisecond)
		require.NoError(t, os.WriteFile(path+".go", nil, 0o600))
		wg.Wait()
		for i := range errs {
			require.NoError(t, errs[i], "round %d, process %d: %s", round, i, outs[i])
		}
	}
}
