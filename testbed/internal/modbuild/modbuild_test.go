package modbuild

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

func TestValidate(t *testing.T) {
	ok := Spec{Name: "x", Module: "m", Version: "v1", Packages: []string{"./cmd"}, Output: "x"}
	tests := []struct {
		name   string
		edit   func(*Spec)
		errHas string
	}{
		{"complete", func(*Spec) {}, ""},
		{"no module", func(s *Spec) { s.Module = "" }, "needs a name, module and version"},
		{"no packages", func(s *Spec) { s.Packages = nil }, "no packages"},
		{"no sumdb without pin", func(s *Spec) { s.NoSumDB = true }, "pins no module hash"},
		{"one package needs output", func(s *Spec) { s.Output = "" }, "output name"},
		{"several packages need none", func(s *Spec) { s.Output = ""; s.Packages = []string{"./a", "./b"} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := ok
			tt.edit(&sp)
			err := sp.Validate()
			if tt.errHas == "" && err != nil || tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Errorf("Validate = %v, want %q", err, tt.errHas)
			}
		})
	}
}

func TestKeyChangesWithInputs(t *testing.T) {
	base := Spec{Name: "x", Module: "m", Version: "v1", Packages: []string{"./cmd"}, Output: "x"}
	k := base.Key("go1.26.8")
	for name, edit := range map[string]func(*Spec){
		"version":     func(s *Spec) { s.Version = "v2" },
		"ldflags":     func(s *Spec) { s.LDFlags = "-s" },
		"env":         func(s *Spec) { s.Env = []string{"CGO_ENABLED=0"} },
		"tags":        func(s *Spec) { s.Tags = []string{"t"} },
		"prepare key": func(s *Spec) { s.PrepareKey = "p" },
		"files":       func(s *Spec) { s.Files = []string{"schema.sql"} },
		"unoptimized": func(s *Spec) { s.Unoptimized = true },
	} {
		sp := base
		edit(&sp)
		if sp.Key("go1.26.8") == k {
			t.Errorf("key ignores %s", name)
		}
	}
	if base.Key("go1.27.0") == k {
		t.Error("key ignores the Go version")
	}
}

// Prefetch downloads the modules a build imports, through the module
// proxy, into an empty module cache: cobra's build needs pflag.
func TestPrefetchDownloadsWhatTheBuildImports(t *testing.T) {
	modcache := t.TempDir()
	t.Setenv("GOMODCACHE", modcache)
	t.Cleanup(func() { exec.Command("go", "clean", "-modcache").Run() }) // its files are read-only
	sp := Spec{Name: "cobra", Module: "github.com/spf13/cobra", Version: "v1.8.0", Packages: []string{"."}, Output: "x"}
	var log bytes.Buffer
	err := step.New(&log, t.TempDir()).Run(context.Background(), "prefetch", func(ctx context.Context, s *step.Step) error {
		return Prefetch(ctx, s, cache.Dir(t.TempDir()), sp)
	})
	if err != nil {
		t.Fatalf("Prefetch: %v\n%s", err, log.String())
	}
	if strings.Contains(log.String(), "skipped") || strings.Contains(log.String(), "its build will") {
		t.Fatalf("Prefetch did not download:\n%s", log.String())
	}
	if pflag, _ := filepath.Glob(filepath.Join(modcache, "github.com", "spf13", "pflag@*")); len(pflag) == 0 {
		t.Errorf("pflag, which cobra imports, is not in the module cache:\n%s", log.String())
	}
}

// Only a binary linked without DWARF is compiled without it.
func TestGCFlags(t *testing.T) {
	for _, tt := range []struct {
		ldflags     string
		unoptimized bool
		want        []string
	}{
		{ldflags: "-s -w", want: []string{"all=-dwarf=false"}},
		{ldflags: "-w -X m/v.ver=1.0", want: []string{"all=-dwarf=false"}},
		{ldflags: "-s"},
		{ldflags: ""},
		{ldflags: "-X m/v.ver=-w-like"},
		{ldflags: "-s -w", unoptimized: true, want: []string{"all=-N -l -dwarf=false", "std=-dwarf=false"}},
		{ldflags: "-s", unoptimized: true, want: []string{"all=-N -l", "std="}},
	} {
		got := (Spec{LDFlags: tt.ldflags, Unoptimized: tt.unoptimized}).gcflags()
		if !slices.Equal(got, tt.want) {
			t.Errorf("gcflags for -ldflags %q, unoptimized %v = %q, want %q", tt.ldflags, tt.unoptimized, got, tt.want)
		}
	}
}
