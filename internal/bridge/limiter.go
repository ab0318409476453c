package bridge

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
)

// limiter finds how many Temporal calls to keep in flight, by itself: Temporal's knee,
// where more concurrency only adds queueing. It is TCP Vegas as Netflix's
// concurrency-limits library applies it to RPC clients, driven by latency and overload:
//
//   - Each window (about one call per slot of the limit) it compares the window's mean
//     call latency with the lowest window mean seen lately (the latency of an unloaded
//     server). limit × (1 − lowest/mean) estimates the calls queued inside Temporal: below
//     alpha the limit grows, above beta it shrinks, in between it holds (alpha and beta
//     grow with log10 of the limit, from 3 and 8).
//   - An overload answer (ResourceExhausted, Unavailable, a call past its deadline) cuts
//     the limit to 70% at once (at most once per window of calls) and pauses new calls for
//     a backoff that doubles while overload lasts (50ms up to 2s), so a throttling
//     Temporal is asked less, not hammered.
//
// The limit grows only while the bridge has the work to fill it: an idle bridge keeps its
// limit rather than inflating it with no evidence. The lowest mean is forgotten every
// rttEpoch, so a server whose unloaded latency rose (a bigger database, a farther region)
// is re-measured rather than judged overloaded for ever.
type limiter struct {
	mu       sync.Mutex
	limit    float64
	min, max float64

	winN        int
	winSum      time.Duration
	winBusy     bool          // some call in the window saw the limit at least half used
	base        time.Duration // lowest window mean this epoch
	basePrev    time.Duration // ... and the epoch before
	epochStart  time.Time
	lastCut     time.Time
	pauseUntil  time.Time
	pauseFor    time.Duration
	overloadWin bool // an overload answer in the current window
}

const (
	limiterInitial  = 8
	rttEpoch        = 10 * time.Second
	overloadCut     = 0.7
	pauseMin        = 50 * time.Millisecond
	pauseMax        = 2 * time.Second
	limiterMinCalls = 4 // a window is at least this many calls
	// limiterAlpha and limiterBeta are the fewest calls queued inside Temporal below which
	// the limit grows and above which it shrinks. A single Temporal server on a few cores
	// queues from two calls on, yet its throughput still climbs to about eight (measured:
	// docs/ARCHITECTURE.md), so a few queued calls are the price of its best throughput.
	limiterAlpha = 3
	limiterBeta  = 8
)

func newLimiter(ceiling int) *limiter {
	now := time.Now()
	return &limiter{limit: math.Min(limiterInitial, float64(ceiling)), min: 1, max: float64(ceiling), epochStart: now}
}

// Limit is the number of calls to allow in flight now.
func (l *limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

// pausedFor is how long new calls should wait before starting (0: none).
func (l *limiter) pausedFor(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.pauseUntil) {
		return l.pauseUntil.Sub(now)
	}
	return 0
}

// observe records one call that took rtt and ended with err while inflight calls
// (itself included) were in flight.
func (l *limiter) observe(rtt time.Duration, inflight int, err error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if overloaded(err) {
		l.overloadWin = true
		if l.pauseFor == 0 {
			l.pauseFor = pauseMin
		} else {
			l.pauseFor = min(2*l.pauseFor, pauseMax)
		}
		l.pauseUntil = now.Add(l.pauseFor)
		if now.Sub(l.lastCut) >= l.window() {
			l.limit = math.Max(l.min, math.Floor(l.limit*overloadCut))
			l.lastCut = now
		}
		return
	}
	if err != nil && !temporalAnswered(err) {
		return // a failure of ours or the network's says nothing about Temporal's load
	}
	l.winN++
	l.winSum += rtt
	if float64(inflight) >= l.limit/2 {
		l.winBusy = true
	}
	if l.winN < max(limiterMinCalls, int(l.limit)) {
		return
	}
	mean := l.winSum / time.Duration(l.winN)
	busy, overload := l.winBusy, l.overloadWin
	l.winN, l.winSum, l.winBusy, l.overloadWin = 0, 0, false, false
	if !overload {
		l.pauseFor = 0
	}
	if now.Sub(l.epochStart) >= rttEpoch {
		l.basePrev, l.base, l.epochStart = l.base, 0, now
	}
	if l.base == 0 || mean < l.base {
		l.base = mean
	}
	base := l.base
	if l.basePrev != 0 && l.basePrev < base {
		base = l.basePrev
	}
	queued := l.limit * (1 - float64(base)/float64(mean))
	step := math.Max(1, math.Log10(l.limit))
	alpha, beta := math.Max(limiterAlpha, 3*math.Log10(l.limit)), math.Max(limiterBeta, 6*math.Log10(l.limit))
	switch {
	case queued > beta:
		l.limit = math.Max(l.min, l.limit-step)
	case queued < alpha && busy && !overload:
		l.limit = math.Min(l.max, l.limit+step)
	}
}

// window is the shortest time between two overload cuts: about one round of calls at the
// current limit, and never less than 100ms.
func (l *limiter) window() time.Duration {
	if l.base == 0 {
		return 100 * time.Millisecond
	}
	return max(100*time.Millisecond, 2*l.base)
}

// overloaded says whether err is Temporal (or the path to it) saying "too much": the
// answers that lower the limit.
func overloaded(err error) bool {
	if err == nil {
		return false
	}
	var (
		exhausted   *serviceerror.ResourceExhausted
		unavailable *serviceerror.Unavailable
		deadline    *serviceerror.DeadlineExceeded
	)
	return errors.As(err, &exhausted) || errors.As(err, &unavailable) || errors.As(err, &deadline) ||
		errors.Is(err, context.DeadlineExceeded)
}

// temporalAnswered says whether err is an answer from Temporal (a NotFound, an
// already-started), whose latency is a sample of its load like a success's.
func temporalAnswered(err error) bool {
	var (
		nf      *serviceerror.NotFound
		started *serviceerror.WorkflowExecutionAlreadyStarted
	)
	return errors.As(err, &nf) || errors.As(err, &started)
}
