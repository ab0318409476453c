package bridge

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
)

// feed reports rounds of calls to l, each taking latency(limit) with the limit in use.
func feed(l *limiter, rounds int, latency func(limit int) time.Duration, err error) {
	for range rounds {
		n := l.Limit()
		for range max(n, limiterMinCalls) {
			l.observe(latency(n), n, err)
		}
	}
}

// A server whose latency does not grow with concurrency (far from its knee) lets the
// limit climb to the ceiling; one that queues (latency proportional to concurrency past
// 6 calls, a knee like the dev server's) holds it near the knee.
func TestLimiterFindsTheKnee(t *testing.T) {
	flat := newLimiter(256)
	feed(flat, 400, func(int) time.Duration { return 4 * time.Millisecond }, nil)
	require.Equal(t, 256, flat.Limit(), "no queueing: up to the ceiling")

	knee := newLimiter(256)
	queueing := func(n int) time.Duration { return time.Duration(max(n, 6)) * time.Millisecond }
	feed(knee, 400, queueing, nil)
	require.GreaterOrEqual(t, knee.Limit(), 6, "at least the knee")
	require.LessOrEqual(t, knee.Limit(), 16, "not far past the knee, where calls only queue")
}

// An idle bridge (calls with the limit mostly unused) does not grow its limit.
func TestLimiterDoesNotGrowWhenIdle(t *testing.T) {
	l := newLimiter(256)
	for range 1000 {
		l.observe(time.Millisecond, 1, nil)
	}
	require.Equal(t, limiterInitial, l.Limit())
}

// Throttling cuts the limit (once per window, not once per refused call) and pauses new
// calls with a backoff that doubles; a good window ends the pause backoff.
func TestLimiterBacksOffOnOverload(t *testing.T) {
	l := newLimiter(256)
	feed(l, 50, func(int) time.Duration { return 2 * time.Millisecond }, nil)
	before := l.Limit()
	exhausted := serviceerror.NewResourceExhausted(0, "namespace rate limit exceeded")
	for range 20 {
		l.observe(time.Millisecond, before, exhausted)
	}
	require.Equal(t, int(float64(before)*overloadCut), l.Limit(), "one cut for a burst of refusals")
	require.Positive(t, l.pausedFor(time.Now()), "new calls pause")
	require.Equal(t, pauseMax, l.pauseFor, "the pause doubled up to its maximum")

	l.lastCut = time.Time{} // a window later
	l.observe(time.Millisecond, before, exhausted)
	require.Equal(t, int(float64(int(float64(before)*overloadCut))*overloadCut), l.Limit(), "cut again in the next window")
	for range 20 {
		l.observe(time.Millisecond, 1, serviceerror.NewUnavailable("down"))
		l.lastCut = time.Time{}
	}
	require.Equal(t, 1, l.Limit(), "never below one")

	feed(l, 3, func(int) time.Duration { return 2 * time.Millisecond }, nil)
	require.Zero(t, l.pauseFor, "a window without overload resets the backoff")
	require.False(t, overloaded(errors.New("bad input")), "only overload answers count")
}

// The scheduler runs one job per key at a time in push order, runs other keys beside a
// busy one, and never has more jobs running than the limit.
func TestSchedOrderPerKeyNoHeadOfLineBlocking(t *testing.T) {
	lim := newLimiter(4) // limit 4
	var mu sync.Mutex
	var ran []string
	running, most := 0, 0
	release := make(chan struct{})
	s := newSched(lim, func(j job) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		if j.key == "hot" {
			<-release
		}
		mu.Lock()
		running--
		ran = append(ran, j.key+":"+j.it.key)
		mu.Unlock()
	})
	for i := range 3 {
		s.push(job{key: "hot", it: item{key: string(rune('a' + i))}})
	}
	for i := range 20 {
		s.push(job{key: string(rune('A' + i)), it: item{key: "1"}})
	}
	// The 20 cold keys all finish while the hot key's first job is still stuck.
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(ran) == 20 }, 5*time.Second, time.Millisecond)
	close(release)
	s.close()
	<-s.idle
	require.Equal(t, []string{"hot:a", "hot:b", "hot:c"}, ran[20:], "the hot key's jobs in order, after the rest")
	require.LessOrEqual(t, most, 4, "never more running than the limit")
}

// Low-priority jobs (parked signals) take at most a quarter of the limit, so parked work
// never holds every slot.
func TestSchedLowPriorityShare(t *testing.T) {
	lim := newLimiter(8) // limit 8: at most 2 low at once
	var mu sync.Mutex
	lowRunning, mostLow := 0, 0
	gate := make(chan struct{})
	s := newSched(lim, func(j job) {
		if j.low {
			mu.Lock()
			lowRunning++
			mostLow = max(mostLow, lowRunning)
			mu.Unlock()
			<-gate
			mu.Lock()
			lowRunning--
			mu.Unlock()
		}
	})
	for i := range 10 {
		s.push(job{key: string(rune('a' + i)), low: true})
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return lowRunning == 2 }, 5*time.Second, time.Millisecond,
		"a quarter of the limit for low jobs")
	close(gate)
	s.close()
	<-s.idle
	require.Equal(t, 2, mostLow)
}
