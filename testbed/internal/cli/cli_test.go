package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Setenv(CacheEnv, "/tmp/from-env")
	tests := []struct {
		args      []string
		wantErr   string
		wantCmd   string
		wantCache string
		wantPurge bool
	}{
		{args: []string{"up"}, wantCmd: "up", wantCache: "/tmp/from-env"},
		{args: []string{"down", "--purge"}, wantCmd: "down", wantCache: "/tmp/from-env", wantPurge: true},
		{args: []string{"status", "--cache-dir", "/c"}, wantCmd: "status", wantCache: "/c"},
		{args: []string{"env", "--cache-dir=rel"}, wantCmd: "env", wantCache: "rel"},
		{args: []string{"peer"}, wantCmd: "peer", wantCache: "/tmp/from-env"},
		{args: []string{"peer", "--purge"}, wantErr: "--purge only applies to down"},
		{args: nil, wantErr: "missing command"},
		{args: []string{"start"}, wantErr: `unknown command "start": one of up, env, down, status, peer`},
		{args: []string{"up", "down"}, wantErr: "one command expected"},
		{args: []string{"up", "--purge"}, wantErr: "--purge only applies to down"},
		{args: []string{"up", "--cache-dir="}, wantErr: "--cache-dir is empty"},
		{args: []string{"up", "--bogus"}, wantErr: "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := Parse(tt.args, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Command != tt.wantCmd || o.Purge != tt.wantPurge {
				t.Errorf("got %+v", o)
			}
			if !filepath.IsAbs(o.CacheDir) || !strings.HasSuffix(o.CacheDir, tt.wantCache) {
				t.Errorf("cache dir %q, want absolute and ending in %q", o.CacheDir, tt.wantCache)
			}
		})
	}
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv(CacheEnv, "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if got := DefaultCacheDir(); got != "/xdg/gantry-testbed" {
		t.Errorf("DefaultCacheDir = %q", got)
	}
}

func TestRunUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"up", "--nope"}} {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), args, &stdout, &stderr); code != ExitUsage {
			t.Errorf("Run(%q) = %d, want %d", args, code, ExitUsage)
		}
		if lines := strings.Count(strings.TrimSpace(stderr.String()), "\n"); lines != 0 {
			t.Errorf("usage error takes %d lines, want one: %q", lines+1, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("usage error wrote to stdout: %q", stdout.String())
		}
	}
	var stderr bytes.Buffer
	if code := Run(context.Background(), []string{"--help"}, &bytes.Buffer{}, &stderr); code != ExitOK ||
		!strings.Contains(stderr.String(), "--cache-dir") {
		t.Errorf("--help: code %d, output %q", code, stderr.String())
	}
}

// env on a cache without a bed fails clearly with exit status 1.
func TestEnvWithoutBed(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"env", "--cache-dir", t.TempDir()}, &stdout, &stderr)
	if code != ExitFail || !strings.Contains(stderr.String(), "not up") || stdout.Len() != 0 {
		t.Errorf("code %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}
