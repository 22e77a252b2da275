package pipeline

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestExecute(t *testing.T) {
	ok := func(context.Context, *Run) error { return nil }
	fail := func(context.Context, *Run) error { return errors.New("boom") }
	findings := func(context.Context, *Run) error { return failWith(ExitScanFindings, errors.New("2 findings")) }
	lost := func(context.Context, *Run) error {
		return errors.New(`returned error 502: {"errors":[{"message":"http do: Post \"http://dagger/query\": unexpected EOF"}]}`)
	}
	never := func(context.Context, *Run) error { t.Error("a stage ran after a failure"); return nil }
	skip := func(*Run) string { return "--dry-run" }

	tests := []struct {
		name     string
		stages   []Stage
		wantCode int // 0: no error
		statuses string
	}{
		{"all pass", []Stage{{Name: "a", Code: 3, Run: ok}, {Name: "b", Code: 4, Run: ok}}, 0, "passed passed"},
		{"stage code", []Stage{{Name: "a", Code: 3, Run: ok}, {Name: "b", Code: ExitBuild, Run: fail}, {Name: "c", Run: never}}, ExitBuild, "passed failed"},
		{"error overrides code", []Stage{{Name: "scan", Code: ExitScanError, Run: findings}, {Name: "c", Run: never}}, ExitScanFindings, "failed"},
		{"lost engine is internal", []Stage{{Name: "build", Code: ExitBuild, Run: lost}}, ExitInternal, "failed"},
		{"skip", []Stage{{Name: "a", Code: 3, Run: ok}, {Name: "publish", Code: ExitPublish, Skip: skip, Run: never}}, 0, "passed skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			r := &Run{Out: &out}
			err := Execute(context.Background(), r, tt.stages)
			code := 0
			if err != nil {
				var f *Failure
				if !errors.As(err, &f) {
					t.Fatalf("err = %T %v, want *Failure", err, err)
				}
				code = f.Code
			}
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d", code, tt.wantCode)
			}
			var got []string
			for _, res := range r.Results {
				got = append(got, res.Status)
			}
			if strings.Join(got, " ") != tt.statuses {
				t.Errorf("statuses = %q, want %q", got, tt.statuses)
			}
		})
	}
}

func TestExitCodesAreDistinct(t *testing.T) {
	seen := map[int]bool{}
	for _, c := range []int{ExitOK, ExitInternal, ExitUsage, ExitTest, ExitBuild, ExitSmoke, ExitScanFindings, ExitScanError, ExitPublish} {
		if seen[c] {
			t.Errorf("exit code %d used twice", c)
		}
		seen[c] = true
	}
}

func TestFailingOutputKeepsFailures(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		b.WriteString("ok  \tgithub.com/x/pkg\t0.1s\n")
	}
	b.WriteString("--- FAIL: TestThing (0.00s)\n    thing_test.go:12: deliberate\nFAIL\nFAIL\tgithub.com/x/bad\t0.2s\n")
	got := failingOutput(b.String())
	if !strings.Contains(got, "thing_test.go:12: deliberate") || strings.Contains(got, "github.com/x/pkg") {
		t.Errorf("failingOutput = %q", got)
	}
}

func TestPublishedRefs(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		digest  string
		want    []string
		wantErr bool
	}{
		{"refs from repo, tags and digest", digest, []string{"reg/bench/app:abc@" + digest, "reg/bench/app:latest@" + digest}, false},
		{"masked digest", "sha256:***", nil, true},
		{"empty digest", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := publishedRefs("reg/bench/app", []string{"abc", "latest"}, tt.digest)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !slices.Equal(res.Refs, tt.want) {
				t.Errorf("refs = %v, want %v", res.Refs, tt.want)
			}
		})
	}
}
