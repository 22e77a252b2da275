package cache

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

func TestKey(t *testing.T) {
	if Key("a", "bc") == Key("ab", "c") {
		t.Error("Key does not separate its inputs")
	}
	if Key("x") != Key("x") {
		t.Error("Key is not deterministic")
	}
	if len(Key()) != 16 {
		t.Errorf("Key length %d, want 16", len(Key()))
	}
	if KeyMap(map[string]string{"a": "1", "b": "2"}) != KeyMap(map[string]string{"b": "2", "a": "1"}) {
		t.Error("KeyMap depends on map order")
	}
}

func TestEntry(t *testing.T) {
	for _, tt := range []struct{ name, version, key, want string }{
		{"dagger", "v0.19.10", "abc", "dagger-v0.19.10-abc"},
		{"static", "", "abc", "static-abc"},
	} {
		if got := Entry(tt.name, tt.version, tt.key); got != tt.want {
			t.Errorf("Entry(%q, %q, %q) = %q, want %q", tt.name, tt.version, tt.key, got, tt.want)
		}
	}
}

func TestEnsure(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "sub", "entry")
	calls := 0
	build := func(tmp string) error {
		calls++
		return os.WriteFile(tmp, []byte("x"), 0o644)
	}
	for i, wantBuilt := range []bool{true, false} {
		built, err := Ensure(dest, build)
		if err != nil || built != wantBuilt {
			t.Fatalf("call %d: built=%v err=%v, want built=%v", i, built, err, wantBuilt)
		}
	}
	if calls != 1 {
		t.Errorf("build ran %d times, want 1", calls)
	}

	failing := filepath.Join(dir, "failing")
	if _, err := Ensure(failing, func(tmp string) error {
		os.WriteFile(tmp, []byte("half"), 0o644)
		return errors.New("boom")
	}); err == nil {
		t.Fatal("want the build error")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "sub" {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"rootfs-a-1.tar.gz", "rootfs-a-1.tar.gz.json", "rootfs-a-2.tar.gz",
		"rootfs-a-2.tar.gz.json", "rootfs-b-1.tar.gz"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	if err := Prune(dir, "rootfs-a-", "rootfs-a-2.tar.gz"); err != nil {
		t.Fatal(err)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	sort.Strings(left)
	want := []string{"rootfs-a-2.tar.gz", "rootfs-a-2.tar.gz.json", "rootfs-b-1.tar.gz"}
	if len(left) != len(want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	for i := range want {
		if left[i] != want[i] {
			t.Fatalf("left %v, want %v", left, want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{{500, "500 B"}, {2048, "2.0 KiB"}, {3 << 30, "3.0 GiB"}} {
		if got := HumanSize(tt.n); got != tt.want {
			t.Errorf("HumanSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
