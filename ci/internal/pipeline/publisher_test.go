package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"dagger.io/dagger"
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

// Issue 21: gantry-publish gets the decrypted key and the tokens, so the
// binary a run hands the engine must be the one built there, in
// directories nobody else can write.
func TestKeepPublisher(t *testing.T) {
	builds := 0
	build := func(path string) error {
		builds++
		return os.WriteFile(path, []byte("#!/bin/true\n"), 0o755)
	}
	newBase := func(t *testing.T) string {
		root := t.TempDir()
		if err := os.Chmod(root, 0o700); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(root, "gantry", "publisher")
	}

	t.Run("built once, then found", func(t *testing.T) {
		base := newBase(t)
		builds = 0
		first, err := keepPublisher(base, "k1", build)
		if err != nil {
			t.Fatal(err)
		}
		second, err := keepPublisher(base, "k1", build)
		if err != nil {
			t.Fatal(err)
		}
		if first != second || builds != 1 {
			t.Errorf("paths %s, %s after %d builds; want one path, one build", first, second, builds)
		}
	})

	for _, tt := range []struct {
		name   string
		attack func(t *testing.T, dir string) // dir holds the binary
		want   string
	}{
		{name: "a changed binary", want: "is not the binary built there", attack: func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, "gantry-publish"), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("backdoor")
			f.Close()
		}},
		{name: "a binary planted without its digest", want: "gantry-publish.sha256", attack: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "gantry-publish.sha256")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a directory others may write", want: "others may write it", attack: func(t *testing.T, dir string) {
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a binary others may write", want: "others may write it", attack: func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "gantry-publish"), 0o777); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a symlink to a binary elsewhere", want: "is a symlink", attack: func(t *testing.T, dir string) {
			bin := filepath.Join(dir, "gantry-publish")
			elsewhere := filepath.Join(t.TempDir(), "x")
			if err := os.Rename(bin, elsewhere); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, bin); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := newBase(t)
			path, err := keepPublisher(base, "k1", build)
			if err != nil {
				t.Fatal(err)
			}
			tt.attack(t, filepath.Dir(path))
			if _, err := keepPublisher(base, "k1", build); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// Every stage that needs the publisher asks for it, several at once: one
// compile serves them all, and a failed one is tried again by the next.
func TestOnceCompilesOnce(t *testing.T) {
	var mu sync.Mutex
	calls := map[dagger.Platform]int{}
	fail := true
	f := once(func(ctx context.Context, p dagger.Platform) (*dagger.File, error) {
		mu.Lock()
		defer mu.Unlock()
		calls[p]++
		if p == "linux/arm64" && fail {
			fail = false
			return nil, errors.New("interrupted")
		}
		return &dagger.File{}, nil
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := f(context.Background(), "linux/amd64"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, err := f(context.Background(), "linux/arm64"); err == nil {
		t.Error("the first arm64 compile failed, and its caller was not told")
	}
	if _, err := f(context.Background(), "linux/arm64"); err != nil {
		t.Errorf("a failed compile was kept: %v", err)
	}
	f(context.Background(), "linux/arm64")
	if calls["linux/amd64"] != 1 || calls["linux/arm64"] != 2 {
		t.Errorf("compiles: %v; want 1 for amd64 (8 callers at once), 2 for arm64 (one failed)", calls)
	}
}
