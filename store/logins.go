package store

import (
	"context"
	"fmt"
	"time"
)

// LoginBackoff is the per-account policy against password guessing: after After failed attempts
// for one username, each further attempt waits Base, doubling with every failure up to Max.
// Failures older than Forget no longer count. After = 0 turns the backoff off.
type LoginBackoff struct {
	After  int
	Base   time.Duration
	Max    time.Duration
	Forget time.Duration
}

// maxBackoffDoublings keeps 2^n finite; Max caps the delay long before.
const maxBackoffDoublings = 40

// failuresAfter is a username's count with the attempt being made, failures older than @forget
// forgotten; delayFor(n) is how long the username waits once n attempts have failed.
const (
	failuresAfter = `(CASE WHEN f.last_failed_at < CAST(@forget AS timestamptz) THEN 1 ELSE f.failures + 1 END)`
	delayFor      = `make_interval(secs => least(CAST(@base AS float8) * power(2, least(%s - CAST(@after AS int), CAST(@cap AS int))), CAST(@max AS float8)))`
)

// beginLoginSQL counts an attempt unless the username is waiting (then it returns no row).
var beginLoginSQL = fmt.Sprintf(`
INSERT INTO login_failures AS f (username, failures, locked_until, last_failed_at)
VALUES (@u, 1, CASE WHEN CAST(@after AS int) <= 1 THEN CAST(@now AS timestamptz) + %s END, @now)
ON CONFLICT (username) DO UPDATE SET
    failures = %s,
    locked_until = CASE WHEN %s >= CAST(@after AS int) THEN CAST(@now AS timestamptz) + %s END,
    last_failed_at = @now
WHERE f.locked_until IS NULL OR f.locked_until <= CAST(@now AS timestamptz)
RETURNING f.failures`, fmt.Sprintf(delayFor, "1"), failuresAfter, failuresAfter, fmt.Sprintf(delayFor, failuresAfter))

// BeginLogin counts a password attempt for username (known or not: the counter says nothing about
// whether an account exists) before the password is checked, and reports whether it may go ahead.
// An attempt is counted as failed until FinishLogin says it succeeded; counting first means that
// parallel attempts cannot slip in more guesses than the policy allows. When the username is
// backing off, nothing is counted and the attempt may be made again at retryAt.
func (s *Store) BeginLogin(ctx context.Context, username string, now time.Time, p LoginBackoff) (ok bool, retryAt time.Time, err error) {
	if p.After <= 0 {
		return true, time.Time{}, nil
	}
	args := map[string]any{"u": username, "now": now, "after": p.After, "base": p.Base.Seconds(), "max": p.Max.Seconds(),
		"forget": now.Add(-p.Forget), "cap": maxBackoffDoublings}
	for range 2 { // the second round only when a lock ended between the two statements
		ok, retryAt, err = s.beginLogin(ctx, username, args, now)
		if err != nil || ok || !retryAt.IsZero() {
			return ok, retryAt, err
		}
	}
	return false, now.Add(time.Second), nil
}

func (s *Store) beginLogin(ctx context.Context, username string, args map[string]any, now time.Time) (bool, time.Time, error) {
	var counted []int
	err := s.q(ctx).Raw(beginLoginSQL, args).Scan(&counted).Error
	if err != nil {
		return false, time.Time{}, translate(err)
	}
	if len(counted) == 1 {
		return true, time.Time{}, nil
	}
	var until []time.Time
	if err := s.q(ctx).Raw(`SELECT locked_until FROM login_failures WHERE username = ?`, username).Scan(&until).Error; err != nil {
		return false, time.Time{}, translate(err)
	}
	if len(until) == 0 || !until[0].After(now) {
		return false, time.Time{}, nil // the lock ended in between: try again
	}
	return false, until[0], nil
}

// FinishLogin forgets the failures of username after a successful login.
func (s *Store) FinishLogin(ctx context.Context, username string) error {
	return translate(s.q(ctx).Exec(`DELETE FROM login_failures WHERE username = ?`, username).Error)
}
