package main

import (
	"context"
	"strings"
	"testing"
)

// Bad input exits 2 with one line, before any registry is asked (the
// images here point nowhere).
func TestUsage(t *testing.T) {
	env := func(k string) string {
		if k == "GITHUB_REPOSITORY" {
			return "acme/app"
		}
		return ""
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help", []string{"--help"}, exitOK, ""},
		{"no image", nil, exitUsage, "want one IMAGE"},
		{"two images", []string{"a:1", "b:1"}, exitUsage, "got 2 arguments"},
		{"an output it can't write", []string{"--output", "yaml", "127.0.0.1:1/app:1"}, exitUsage, `--output "yaml": want text or json`},
		{"no reference", []string{"Not A Reference"}, exitUsage, "is not an image reference"},
		{"a key that isn't there", []string{"--key", "/nonexistent/cosign.pub", "127.0.0.1:1/app:1"}, exitUsage, "--key"},
		{"an unknown flag", []string{"--engine", "x", "127.0.0.1:1/app:1"}, exitUsage, "unknown flag"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), tt.args, &stdout, &stderr, env)
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.want)
			}
			if tt.code == exitUsage && strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 {
				t.Errorf("stderr is more than one line: %q", stderr.String())
			}
		})
	}
}
