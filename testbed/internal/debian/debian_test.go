package debian

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// makeDeb builds a package holding usr/bin/tool with body.
func makeDeb(t *testing.T, body string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "pkg")
	for p, data := range map[string]string{
		"DEBIAN/control": "Package: tool\nVersion: 1.2-3\nArchitecture: all\nMaintainer: t <t@example.com>\nDescription: test\n",
		"usr/bin/tool":   body,
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(t.TempDir(), "tool_1.2-3_all.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-b", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v: %s", err, out)
	}
	return deb
}

func TestExtract(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Fatal("dpkg-deb is missing: the bed runs on Debian")
	}
	dest := filepath.Join(t.TempDir(), "bin", "tool-1.2-3", "tool")
	if err := Extract(context.Background(), makeDeb(t, "first"), "usr/bin/tool", dest); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dest)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("%s: %v, mode %v; want an executable", dest, err, fi)
	}
	// The cache entry is kept as it is: another package's file does not
	// replace it.
	if err := Extract(context.Background(), makeDeb(t, "second"), "usr/bin/tool", dest); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(dest); string(data) != "first" {
		t.Errorf("dest holds %q, want the first package's file", data)
	}
	if err := Extract(context.Background(), makeDeb(t, "x"), "usr/bin/other", filepath.Join(t.TempDir(), "d", "other")); err == nil {
		t.Error("a path the package lacks extracted without an error")
	}
}
