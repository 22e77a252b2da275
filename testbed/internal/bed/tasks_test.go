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

func TestPlanOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	record := func(name string) func(context.Context, *step.Step) error {
		return func(context.Context, *step.Step) error {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		}
	}
	var p plan
	a := p.add("a", record("a"))
	b := p.add("b", record("b"), a)
	c := p.add("c", record("c"), b)
	p.add("d", record("d"), a, c)
	if err := p.execute(context.Background(), step.New(io.Discard, t.TempDir())); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ""); got != "abcd" {
		t.Errorf("order %q, want abcd", got)
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
