package bridge

import (
	"context"
	"sync"
	"time"
)

// sched runs jobs with at most its limiter's limit running at once and at most one per
// key, in the order they were pushed for that key. A key whose job is running keeps its
// later jobs aside, so a hot workflow id never holds up other ids (no head-of-line
// blocking): only keys with nothing running wait in the ready queue, served in turn.
//
// Jobs are high priority (events from the stream) or low (retries from the waiting room):
// a low job starts only when no high one is ready, and low jobs take at most a quarter of
// the limit, so parked work never starves fresh events.
type sched struct {
	mu         sync.Mutex
	keys       map[string]*keyJobs // keys with a job ready or running
	ready      fifo[*keyJobs]      // keys whose next job may start, high priority
	readyLow   fifo[*keyJobs]
	running    int
	runningLow int
	pending    int // jobs pushed and not finished
	closed     bool
	lim        *limiter
	wake       chan struct{} // the dispatcher has something to look at
	room       chan struct{} // a ready key left the queue: a waiting push may go on
	idle       chan struct{} // closed when closed and every job finished
	run        func(job)
	handoff    chan task // to a worker waiting for its next job (unbuffered)
}

// task is a job handed to a worker goroutine.
type task struct {
	k *keyJobs
	j job
}

// workerIdle is how long a worker goroutine waits for another job before it exits.
// Workers outlive their jobs because a fresh goroutine per job would grow its stack
// again on every Temporal call (the gRPC stack is deep): reusing them saves that copying.
const workerIdle = 5 * time.Second

// job is one unit of work for a key.
type job struct {
	key string
	low bool
	it  item
}

type keyJobs struct {
	key     string
	jobs    []job
	running bool
}

func newSched(lim *limiter, run func(job)) *sched {
	s := &sched{keys: map[string]*keyJobs{}, lim: lim, run: run,
		wake: make(chan struct{}, 1), room: make(chan struct{}, 1), idle: make(chan struct{}), handoff: make(chan task)}
	go s.dispatch()
	return s
}

// roomFor is how many keys may wait in a ready queue: enough to keep every slot busy
// between two pulls from the stream, no more, so what the bridge takes from the stream is
// what it can start soon (the rest stays on the server, for whichever replica has room).
func (s *sched) roomFor(low bool) int {
	l := s.lim.Limit()
	if low {
		return max(2, l/2)
	}
	return 2*l + 16
}

// waitRoom waits until the ready queue of priority low is at most half full and returns
// how many more keys it takes, or 0 once the scheduler is closed or ctx ended. Waiting for
// half makes pulls of many messages rather than one each (a pull costs a round trip and
// a subscription), while the half still queued keeps every slot busy meanwhile. Jobs for
// keys already in the scheduler do not take room (they queue behind their key, held), so
// a hot workflow id fills no room that other ids need.
func (s *sched) waitRoom(ctx context.Context, low bool) int {
	var recheck *time.Timer // the limit may have grown: look again every 100ms
	defer func() {
		if recheck != nil {
			recheck.Stop()
		}
	}()
	for {
		s.mu.Lock()
		q := &s.ready
		if low {
			q = &s.readyLow
		}
		room := s.roomFor(low)
		free, closed := room-q.len(), s.closed
		s.mu.Unlock()
		if closed || ctx.Err() != nil {
			return 0
		}
		if free > 0 && free >= room/2 {
			return free
		}
		if recheck == nil {
			recheck = time.NewTimer(100 * time.Millisecond)
		} else {
			recheck.Reset(100 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
		case <-s.room:
		case <-recheck.C:
		}
	}
}

// push adds j behind the jobs of its key.
func (s *sched) push(j job) {
	s.mu.Lock()
	s.pending++
	k := s.keys[j.key]
	if k == nil {
		k = &keyJobs{key: j.key}
		s.keys[j.key] = k
		k.jobs = append(k.jobs, j)
		s.enqueue(k)
	} else {
		k.jobs = append(k.jobs, j)
	}
	s.mu.Unlock()
	s.signal(s.wake)
}

// enqueue puts k, which has jobs and none running, in the ready queue of its next job.
func (s *sched) enqueue(k *keyJobs) {
	if k.jobs[0].low {
		s.readyLow.push(k)
	} else {
		s.ready.push(k)
	}
}

// close lets the dispatcher finish what was pushed, then closes idle.
func (s *sched) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.signal(s.wake)
	s.signal(s.room)
}

// counts reports the jobs waiting (pushed, not started) and running.
func (s *sched) counts() (waiting, running int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending - s.running, s.running
}

func (s *sched) signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (s *sched) dispatch() {
	for {
		if d := s.lim.pausedFor(time.Now()); d > 0 {
			time.Sleep(d)
			continue
		}
		s.mu.Lock()
		if s.closed && s.pending == 0 {
			s.mu.Unlock()
			close(s.idle)
			return
		}
		limit := s.lim.Limit()
		var k *keyJobs
		if s.running < limit {
			switch {
			case s.ready.len() > 0:
				k = s.ready.pop()
			case s.readyLow.len() > 0 && s.runningLow < max(1, limit/4):
				k = s.readyLow.pop()
			}
		}
		if k == nil {
			s.mu.Unlock()
			<-s.wake
			continue
		}
		j := k.jobs[0]
		k.running = true
		s.running++
		if j.low {
			s.runningLow++
		}
		s.mu.Unlock()
		s.signal(s.room)
		select {
		case s.handoff <- task{k, j}: // an idle worker takes it
		default:
			go s.worker(task{k, j})
		}
	}
}

// worker runs t, then each job handed to it, until it has been idle for workerIdle or the
// scheduler is done. There are never more workers than jobs that ran at once recently.
func (s *sched) worker(t task) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		s.runJob(t.k, t.j)
		idle.Reset(workerIdle)
		select {
		case t = <-s.handoff:
		case <-idle.C:
			return
		case <-s.idle:
			return
		}
	}
}

func (s *sched) runJob(k *keyJobs, j job) {
	defer func() {
		s.mu.Lock()
		s.running--
		s.pending--
		if j.low {
			s.runningLow--
		}
		k.running = false
		k.jobs[0] = job{}
		k.jobs = k.jobs[1:]
		if len(k.jobs) > 0 {
			s.enqueue(k)
		} else {
			delete(s.keys, k.key)
		}
		s.mu.Unlock()
		s.signal(s.wake)
		s.signal(s.room)
	}()
	s.run(j)
}

// fifo is a queue that reuses its backing array.
type fifo[T any] struct {
	buf        []T
	head, size int
}

func (q *fifo[T]) len() int { return q.size }

func (q *fifo[T]) push(v T) {
	if q.size == len(q.buf) {
		n := make([]T, max(16, 2*len(q.buf)))
		for i := 0; i < q.size; i++ {
			n[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = n, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = v
	q.size++
}

func (q *fifo[T]) pop() T {
	var zero T
	v := q.buf[q.head]
	q.buf[q.head] = zero
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	return v
}
