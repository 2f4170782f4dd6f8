package models

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// A shared error value stays as it was when requests wrap it or add details, at once.
func TestWrapAndDetailsLeaveTheSharedErrorAlone(t *testing.T) {
	t.Parallel()
	shared := Errorf(ErrConflict, "TURN_FINISHED", "the turn has already finished")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			cause := fmt.Errorf("cause %d", i)
			w := shared.Wrap(cause)
			require.Equal(t, cause, w.Err)
			require.True(t, errors.Is(w, ErrConflict))
			d := shared.WithDetails(map[string]any{"i": i})
			require.Equal(t, i, d.Details["i"])
		})
	}
	wg.Wait()
	require.Nil(t, shared.Err)
	require.Nil(t, shared.Details)
	require.Equal(t, "TURN_FINISHED: the turn has already finished", shared.Error())
}
