package testenv

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// fakeTB records Skip and Fatal and, like the real ones, stops the calling
// goroutine.
type fakeTB struct {
	testing.TB // nil: any other method panics, failing the test
	skipped    bool
	failed     bool
	msg        string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) {
	f.failed, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

// call runs fn on a fake TB in its own goroutine, as the testing package
// runs a test, so that Goexit ends only fn.
func call(fn func(testing.TB)) *fakeTB {
	tb := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(tb)
	}()
	<-done
	return tb
}

func TestRequire(t *testing.T) {
	const hint = "start the thing"
	tests := []struct {
		name        string
		env         map[string]string
		want        []string // returned values, when neither skipped nor failed
		wantSkip    bool
		wantFail    bool
		wantMissing []string // named in the message
	}{
		{
			name: "all set",
			env:  map[string]string{"TESTENV_A": "a", "TESTENV_B": "b"},
			want: []string{"a", "b"},
		},
		{
			name: "all set under CI",
			env:  map[string]string{"TESTENV_A": "a", "TESTENV_B": "b", "CI": "true"},
			want: []string{"a", "b"},
		},
		{
			name:        "one unset skips",
			env:         map[string]string{"TESTENV_A": "a"},
			wantSkip:    true,
			wantMissing: []string{"TESTENV_B"},
		},
		{
			name:        "empty counts as unset",
			env:         map[string]string{"TESTENV_A": "", "TESTENV_B": "b"},
			wantSkip:    true,
			wantMissing: []string{"TESTENV_A"},
		},
		{
			name:        "both unset are both named",
			env:         map[string]string{},
			wantSkip:    true,
			wantMissing: []string{"TESTENV_A", "TESTENV_B"},
		},
		{
			name:        "CI=true fails instead",
			env:         map[string]string{"TESTENV_A": "a", "CI": "true"},
			wantFail:    true,
			wantMissing: []string{"TESTENV_B"},
		},
		{
			name:        "only CI=true fails",
			env:         map[string]string{"TESTENV_A": "a", "CI": "1"},
			wantSkip:    true,
			wantMissing: []string{"TESTENV_B"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"TESTENV_A", "TESTENV_B", "CI"} {
				t.Setenv(k, tt.env[k])
			}
			var got []string
			returned := false
			tb := call(func(tb testing.TB) {
				got = Require(tb, hint, "TESTENV_A", "TESTENV_B")
				returned = true
			})
			if tb.skipped != tt.wantSkip || tb.failed != tt.wantFail {
				t.Fatalf("skipped %v, failed %v; want skipped %v, failed %v (message %q)",
					tb.skipped, tb.failed, tt.wantSkip, tt.wantFail, tb.msg)
			}
			if !tt.wantSkip && !tt.wantFail {
				if !returned || !slices.Equal(got, tt.want) {
					t.Errorf("Require = %q (returned %v), want %q", got, returned, tt.want)
				}
				return
			}
			if returned {
				t.Error("Require returned after skipping or failing")
			}
			for _, v := range tt.wantMissing {
				if !strings.Contains(tb.msg, v) {
					t.Errorf("message %q does not name %s", tb.msg, v)
				}
			}
			for _, v := range []string{"TESTENV_A", "TESTENV_B"} {
				if !slices.Contains(tt.wantMissing, v) && strings.Contains(tb.msg, v) {
					t.Errorf("message %q names %s, which is set", tb.msg, v)
				}
			}
			if !strings.Contains(tb.msg, hint) {
				t.Errorf("message %q lacks the hint %q", tb.msg, hint)
			}
			if tt.wantFail && !strings.Contains(tb.msg, "CI=true") {
				t.Errorf("message %q does not say CI=true made it fail", tb.msg)
			}
		})
	}
}
