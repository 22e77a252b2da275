package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/ci/internal/options"
)

// repo makes a git repository holding a Dockerfile, committed.
func repo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	df := "FROM scratch\nUSER 65532:65532\nHEALTHCHECK CMD [\"/app\", \"healthcheck\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "c"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	return dir
}

// Every usage error exits 2 with one line, before any engine is contacted
// (the tests have none: reaching it would fail differently).
func TestUsageErrors(t *testing.T) {
	clean := repo(t)
	dirty := repo(t)
	os.WriteFile(filepath.Join(dirty, "new-file"), []byte("x"), 0o644)
	badImages := filepath.Join(t.TempDir(), "images.json")
	os.WriteFile(badImages, []byte(`{"go": ""`), 0o644)

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--frobnicate"}, nil, "unknown flag: --frobnicate"},
		{"stray argument", []string{"--dry-run", "build"}, nil, `unexpected argument "build"`},
		{"bad severity", []string{"--dry-run", "--severity", "SEVERE", "--source", clean}, nil, "unknown severity"},
		{"upper-case image", []string{"--dry-run", "--image", "Me/App", "--source", clean}, nil, "upper-case"},
		{"no token", []string{"--image", "me/app", "--username", "me", "--source", clean}, nil, "needs a registry token"},
		{"dirty tree when publishing", []string{"--image", "me/app", "--username", "me", "--source", dirty}, map[string]string{"GITHUB_TOKEN": "t"}, "uncommitted change"},
		{"not a git tree", []string{"--dry-run", "--source", t.TempDir()}, nil, "Dockerfile"},
		{"bad image set", []string{"--dry-run", "--source", clean, "--images", badImages}, nil, "--images"},
		{"missing image set", []string{"--dry-run", "--source", clean, "--images", "/nonexistent.json"}, nil, "--images"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			code := Run(context.Background(), tt.args, &stdout, &stderr, getenv)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tt.want) {
				t.Errorf("stderr = %q, want one line containing %q", msg, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"--help"}, &stdout, &stderr, func(string) string { return "" }); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, flag := range []string{"--dry-run", "--registry", "--image", "--username", "--sha", "--severity", "--ignore-unfixed", "--report-dir", "--source", "--images", "--engine-timeout", "--allow-dirty", "--platform", "--skip-tests", "--rerun", "--run-cache"} {
		if !strings.Contains(stdout.String(), flag) {
			t.Errorf("--help does not show %s", flag)
		}
	}
}

func TestSourceExcludes(t *testing.T) {
	src := t.TempDir()
	tests := []struct {
		name, reportDir, want string // want: the extra exclude, if any
	}{
		{"relative inside", "reports", "reports"},
		{"nested inside", "out/reports", "out/reports"},
		{"absolute inside", filepath.Join(src, "reports"), "reports"},
		{"outside", filepath.Join(t.TempDir(), "reports"), ""},
		{"the source itself", src, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := &options.Options{Source: src, ReportDir: tt.reportDir}
			if !filepath.IsAbs(tt.reportDir) {
				// Relative report dirs are relative to the working directory.
				opts.ReportDir = filepath.Join(src, tt.reportDir)
			}
			got := sourceExcludes(opts)
			base := []string{".git", "bench/out", ".testbed", ".env"}
			if !slices.Equal(got[:len(base)], base) {
				t.Fatalf("excludes = %v, want them to start with %v", got, base)
			}
			extra := strings.Join(got[len(base):], ",")
			if extra != tt.want {
				t.Errorf("extra excludes = %q, want %q", extra, tt.want)
			}
		})
	}
}
