package api

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/youworker/youworker/store"
)

// callerCache remembers for a few seconds who an access token's login is (what Store.LoadCaller
// says), so most requests skip that round trip. Postgres triggers announce every change that can
// end or alter a caller — the user, their logins, their memberships (store.CallersChannel) — and
// each API process drops that user's entries when it hears of one. While the process cannot hear
// (its listener is down) nothing is cached. This process's own changes to accounts, logins and
// groups clear the cache before their response goes out (clearCallersAfter), so its next request
// never sees the old state; another process may, for as long as the notification takes to
// arrive (about a millisecond).
type callerCache struct {
	ttl time.Duration

	mu      sync.Mutex
	live    bool
	epoch   uint64                                   // moves on whenever entries may have been missed or all are dropped
	seq     uint64                                   // counts the users dropped
	dropped map[uuid.UUID]uint64                     // user: seq when last dropped (reset with the epoch)
	entries map[uuid.UUID]map[uuid.UUID]cachedCaller // user: login: state
}

type cachedCaller struct {
	state store.CallerState
	until time.Time
}

// callerTicket is taken before reading Postgres: an entry is kept only if nothing about the user
// was dropped since.
type callerTicket struct{ epoch, seq uint64 }

// maxCachedCallers bounds the users kept (and the drops remembered); beyond it all is forgotten.
const maxCachedCallers = 10_000

func newCallerCache(ttl time.Duration) *callerCache {
	return &callerCache{ttl: ttl, dropped: map[uuid.UUID]uint64{}, entries: map[uuid.UUID]map[uuid.UUID]cachedCaller{}}
}

// load returns what read (Store.LoadCaller) says about a login, from the cache while it may be
// trusted; a nil cache (AUTH_CACHE_TTL=0) reads every time.
func (c *callerCache) load(ctx context.Context, user, login uuid.UUID, now time.Time,
	read func(ctx context.Context, user, login uuid.UUID) (store.CallerState, error)) (store.CallerState, error) {
	if c == nil {
		return read(ctx, user, login)
	}
	if st, ok := c.get(user, login, now); ok {
		return st, nil
	}
	t := c.ticket()
	st, err := read(ctx, user, login)
	if err == nil {
		c.put(user, login, t, st, now)
	}
	return st, err
}

// get returns the cached state of a login; the groups are the caller's own copy. Nothing is
// cached while the cache is not listening (see put and listening).
func (c *callerCache) get(user, login uuid.UUID, now time.Time) (store.CallerState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[user][login]
	if !ok || !now.Before(e.until) {
		return store.CallerState{}, false
	}
	st := e.state
	st.Groups = maps.Clone(st.Groups)
	return st, true
}

func (c *callerCache) ticket() callerTicket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return callerTicket{c.epoch, c.seq}
}

// put keeps an active login's state read after t was taken, unless something dropped it since.
func (c *callerCache) put(user, login uuid.UUID, t callerTicket, st store.CallerState, now time.Time) {
	if !st.SessionActive {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || t.epoch != c.epoch || c.dropped[user] > t.seq {
		return
	}
	if c.entries[user] == nil {
		if len(c.entries) >= maxCachedCallers {
			c.clearLocked()
		}
		c.entries[user] = map[uuid.UUID]cachedCaller{}
	}
	st.Groups = maps.Clone(st.Groups)
	c.entries[user][login] = cachedCaller{state: st, until: now.Add(c.ttl)}
}

// drop forgets everything about a user (a notification said something changed).
func (c *callerCache) drop(user uuid.UUID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	c.dropped[user] = c.seq
	delete(c.entries, user)
	if len(c.dropped) > maxCachedCallers {
		c.clearLocked()
	}
}

// clear forgets everything.
func (c *callerCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearLocked()
}

func (c *callerCache) clearLocked() {
	c.epoch++
	c.entries, c.dropped = map[uuid.UUID]map[uuid.UUID]cachedCaller{}, map[uuid.UUID]uint64{}
}

// listening tells the cache whether changes can be heard; every switch forgets everything.
func (c *callerCache) listening(live bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = live
	c.clearLocked()
}
