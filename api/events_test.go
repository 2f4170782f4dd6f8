package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
)

// A stream's mailbox queues the events handed to it in order, and turns into "read the log"
// when a notification carried no events or the stream fell too far behind.
func TestSubscriptionQueuesUntilItMustReread(t *testing.T) {
	sub := &subscription{wake: make(chan struct{}, 1)}
	sub.deliver([]models.Event{{Seq: 1}, {Seq: 2}})
	sub.deliver([]models.Event{{Seq: 3}})
	require.Len(t, sub.wake, 1, "one wake-up for any number of deliveries")
	evs, reread := sub.take()
	require.False(t, reread)
	require.Equal(t, []models.Event{{Seq: 1}, {Seq: 2}, {Seq: 3}}, evs)
	evs, reread = sub.take()
	require.Empty(t, evs)
	require.False(t, reread)

	sub.deliver([]models.Event{{Seq: 4}})
	sub.deliver(nil)
	sub.deliver([]models.Event{{Seq: 6}})
	evs, reread = sub.take()
	require.True(t, reread, "an id-only notification means: read the log")
	require.Equal(t, []models.Event{{Seq: 6}}, evs)

	sub.deliver(make([]models.Event, maxQueued))
	sub.deliver([]models.Event{{Seq: 7}})
	evs, reread = sub.take()
	require.True(t, reread, "a stream that fell behind reads the log")
	require.Empty(t, evs)
}
