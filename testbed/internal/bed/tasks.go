package bed

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// task is one step of `up` with the steps it needs first. Tasks whose
// needs are met run concurrently; the CPU-heavy ones are chained so only
// one runs at a time.
type task struct {
	name  string
	needs []*task
	run   func(ctx context.Context, s *step.Step) error
	done  chan struct{}
	err   error
}

// errNeeds marks a task not run because a task it needs failed.
var errNeeds = errors.New("not run")

// plan is a set of tasks.
type plan struct {
	tasks []*task
}

// add registers a task that runs after needs.
func (p *plan) add(name string, run func(ctx context.Context, s *step.Step) error, needs ...*task) *task {
	t := &task{name: name, needs: needs, run: run, done: make(chan struct{})}
	p.tasks = append(p.tasks, t)
	return t
}

// execute runs every task as a step, each as soon as its needs are done,
// and returns the first failure. A failure cancels the tasks still running.
func (p *plan) execute(ctx context.Context, r *step.Runner) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, t := range p.tasks {
		wg.Add(1)
		go func(t *task) {
			defer wg.Done()
			defer close(t.done)
			for _, n := range t.needs {
				select {
				case <-n.done:
				case <-ctx.Done():
					t.err = fmt.Errorf("%w: %v", errNeeds, ctx.Err())
					return
				}
				if n.err != nil {
					t.err = fmt.Errorf("%w: %s failed", errNeeds, n.name)
					return
				}
			}
			if err := ctx.Err(); err != nil {
				t.err = fmt.Errorf("%w: %v", errNeeds, err)
				return
			}
			t.err = r.Run(ctx, t.name, t.run)
			if t.err != nil {
				mu.Lock()
				if first == nil {
					first = t.err
				}
				mu.Unlock()
				cancel()
			}
		}(t)
	}
	wg.Wait()
	if first == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return first
}
