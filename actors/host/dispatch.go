package host

import (
	"sync"
	"time"
)

// workerPool is the actor dispatcher of a Host's actors (socket and channel actors, their supervisors).
// protoactor's default dispatcher runs each mailbox pass on a new goroutine, whose 2 KiB stack then grows
// by copying (protoactor's message path and ours are deep): that was a third of the CPU of a connection's
// open, join and close (issue 16). A worker keeps its grown stack from one pass to the next.
//
// Schedule never blocks: a pass goes to an idle worker, else to a new worker while there are fewer than
// max, else to a goroutine of its own as protoactor's dispatcher would. A worker idle for poolIdle ends, so
// an idle host holds no goroutine. The host owns the workers: stop ends them and waits for them.
type workerPool struct {
	work       chan func() // unbuffered: a send succeeds only when a worker is waiting
	quit       chan struct{}
	throughput int
	max        int

	mu      sync.Mutex
	workers int
	closed  bool
	wg      sync.WaitGroup
}

// poolIdle is how long a worker waits for a pass before it ends.
const poolIdle = 250 * time.Millisecond

// dispatchThroughput is protoactor's default: messages per pass before the pass yields.
const dispatchThroughput = 300

func newWorkerPool(max int) *workerPool {
	return &workerPool{work: make(chan func()), quit: make(chan struct{}), throughput: dispatchThroughput, max: max}
}

func (p *workerPool) Throughput() int { return p.throughput }

func (p *workerPool) Schedule(fn func()) {
	select {
	case p.work <- fn:
		return
	default:
	}
	p.mu.Lock()
	if p.closed || p.workers >= p.max {
		p.mu.Unlock()
		go fn()
		return
	}
	p.workers++
	p.wg.Add(1)
	p.mu.Unlock()
	go p.worker(fn)
}

func (p *workerPool) worker(fn func()) {
	defer p.wg.Done()
	// The timer is not reset after each pass (that cost as much as a pass's own dispatch): when it fires
	// the worker ends if it ran no pass since the last firing. An idle worker ends within 2 × poolIdle.
	idle := time.NewTimer(poolIdle)
	defer idle.Stop()
	for worked := false; ; {
		if fn != nil {
			fn() // a mailbox pass: protoactor recovers the actor's panics inside it
			fn, worked = nil, true
		}
		select {
		case fn = <-p.work:
			continue
		case <-idle.C:
			if worked {
				worked = false
				idle.Reset(poolIdle)
				continue
			}
		case <-p.quit:
		}
		break
	}
	p.mu.Lock()
	p.workers--
	p.mu.Unlock()
}

// stop ends the workers once their passes are done and waits for them; later passes each run on a
// goroutine of their own.
func (p *workerPool) stop() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.quit)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
