package api

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
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

// A notification reaches the streams of its log only; after a reconnect every stream rereads.
func TestHubDeliversToTheStreamsOfItsLog(t *testing.T) {
	h := newEventHub("", nil)
	a, b := uuid.New(), uuid.New()
	subA, unsubA := h.subscribe(a)
	subA2, _ := h.subscribe(a)
	subB, _ := h.subscribe(b)
	h.deliver(a, []models.Event{{Seq: 1}}, false)
	for _, sub := range []*subscription{subA, subA2} {
		evs, reread := sub.take()
		require.Equal(t, []models.Event{{Seq: 1}}, evs)
		require.False(t, reread)
	}
	evs, reread := subB.take()
	require.Empty(t, evs)
	require.False(t, reread)

	unsubA()
	h.deliver(a, []models.Event{{Seq: 2}}, false)
	evs, _ = subA.take()
	require.Empty(t, evs, "an unsubscribed stream hears nothing more")

	h.deliver(uuid.Nil, nil, true)
	for _, sub := range []*subscription{subA2, subB} {
		_, reread := sub.take()
		require.True(t, reread)
	}
}

// BenchmarkHubDeliverAmongStreams is the cost of one notification in a process following many
// streams (one of them the notification's).
func BenchmarkHubDeliverAmongStreams(b *testing.B) {
	for _, streams := range []int{10, 10_000} {
		b.Run(fmt.Sprint(streams), func(b *testing.B) {
			h := newEventHub("", nil)
			ids := make([]uuid.UUID, streams)
			for i := range ids {
				ids[i] = uuid.New()
				sub, _ := h.subscribe(ids[i])
				go func() {
					for range sub.wake {
						sub.take()
					}
				}()
			}
			events := []models.Event{{Seq: 1}}
			b.ResetTimer()
			for i := range b.N {
				h.deliver(ids[i%streams], events, false)
			}
		})
	}
}
