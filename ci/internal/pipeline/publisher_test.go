package pipeline

import (
	"os"
	"path/filepath"
	"testing"
)

// The publisher's cache path changes with what the binary is built from,
// and only with that.
func TestSourceDigest(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module m\n")
	write("cmd/x/main.go", "package main\n")
	write("internal/a/a.go", "package a\n")
	base, err := sourceDigest(dir, "go1.26.8", "linux", "amd64", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		edit   func()
		extra  []string
		change bool
	}{
		{name: "nothing", edit: func() {}, change: false},
		{name: "a test file", edit: func() { write("internal/a/a_test.go", "package a\n") }, change: false},
		{name: "testdata", edit: func() { write("internal/a/testdata/x.json", "{}") }, change: false},
		{name: "a doc", edit: func() { write("README.md", "hi") }, change: false},
		{name: "a source file", edit: func() { write("internal/a/a.go", "package a\n\nvar X = 1\n") }, change: true},
		{name: "a new source file", edit: func() { write("internal/b/b.go", "package b\n") }, change: true},
		{name: "go.sum", edit: func() { write("go.sum", "x v1 h1:y\n") }, change: true},
		{name: "another Go", edit: func() {}, extra: []string{"go1.27.0", "linux", "amd64", ""}, change: true},
		{name: "another target", edit: func() {}, extra: []string{"go1.26.8", "linux", "arm64", ""}, change: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.edit()
			extra := tt.extra
			if extra == nil {
				extra = []string{"go1.26.8", "linux", "amd64", ""}
			}
			got, err := sourceDigest(dir, extra...)
			if err != nil {
				t.Fatal(err)
			}
			if (got != base) != tt.change {
				t.Errorf("digest changed = %v, want %v", got != base, tt.change)
			}
			if tt.extra == nil {
				base = got
			}
		})
	}
}
