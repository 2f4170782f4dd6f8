package workflows

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The layering the packages keep (docs/architecture.md): workflow code depends on the activities'
// contract (activities/spec), not on the activities, so neither it nor the API, which starts
// workflows, pulls in the store's or the activities' dependencies.
func TestDependencyRules(t *testing.T) {
	t.Parallel()
	for pkg, forbidden := range map[string][]string{
		"github.com/youworker/youworker/workflows": {"github.com/youworker/youworker/store", "github.com/youworker/youworker/activities"},
		"github.com/youworker/youworker/api":       {"github.com/youworker/youworker/activities"},
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		require.NoError(t, err, "%s", out)
		deps := strings.Fields(string(out))
		for _, f := range forbidden {
			require.NotContains(t, deps, f, "%s must not depend on %s", pkg, f)
		}
	}
}
