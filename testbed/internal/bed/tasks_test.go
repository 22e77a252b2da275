package bed

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// Each task starts only after its needs have finished, and tasks that
// need nothing run at once rather than in the order they were added: a
// holds until z, added last, has run, so a plan run in order would stall.
func TestPlanOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	finished := map[string]bool{}
	task := func(name string, needs []string, wait <-chan struct{}, after func()) func(context.Context, *step.Step) error {
		return func(context.Context, *step.Step) error {
			if wait != nil {
				select {
				case <-wait:
				case <-time.After(10 * time.Second): // only bounds a broken plan
					return errors.New(name + " waited in vain: tasks without needs did not run concurrently")
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, n := range needs {
				if !finished[n] {
					return errors.New(name + " started before " + n + " finished")
				}
			}
			order = append(order, name)
			finished[name] = true
			if after != nil {
				after()
			}
			return nil
		}
	}
	zRan := make(chan struct{})
	var p plan
	a := p.add("a", task("a", nil, zRan, nil))
	b := p.add("b", task("b", []string{"a"}, nil, nil), a)
	c := p.add("c", task("c", []string{"b"}, nil, nil), b)
	p.add("d", task("d", []string{"a", "c"}, nil, nil), a, c)
	p.add("z", task("z", nil, nil, func() { close(zRan) }))
	if err := p.execute(context.Background(), step.New(io.Discard, t.TempDir())); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ""); got != "zabcd" {
		t.Errorf("order %q, want zabcd", got)
	}
}

func TestPlanFailure(t *testing.T) {
	boom := errors.New("boom")
	var p plan
	failing := p.add("failing", func(context.Context, *step.Step) error { return boom })
	dependent := p.add("dependent", func(context.Context, *step.Step) error {
		t.Error("dependent ran after its need failed")
		return nil
	}, failing)
	slow := p.add("slow", func(ctx context.Context, s *step.Step) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			t.Error("slow task not cancelled")
			return nil
		}
	})
	err := p.execute(context.Background(), step.New(io.Discard, t.TempDir()))
	if !errors.Is(err, boom) {
		t.Fatalf("execute = %v, want boom", err)
	}
	if !errors.Is(dependent.err, errNeeds) {
		t.Errorf("dependent err = %v, want errNeeds", dependent.err)
	}
	if slow.err == nil {
		t.Error("slow task finished without error after the failure")
	}
}
