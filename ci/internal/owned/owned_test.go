package owned

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	private := filepath.Join(dir, "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o777)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(mk("target", 0o600), link); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		kind       int
		want       string // part of the error; "" passes
	}{
		{"a private directory", private, Dir, ""},
		{"a directory others may write", open, Dir, "others may write it"},
		{"a file as a directory", mk("f", 0o644), Dir, "is not a directory"},
		{"a file others may read", mk("readable", 0o644), File, ""},
		{"a file others may write", mk("writable", 0o666), File, "others may write it"},
		{"a secret others may read", mk("secret", 0o644), Secret, "others may read or write it"},
		{"a private secret", mk("key", 0o600), Secret, ""},
		{"a symlink", link, File, "is a symlink"},
		{"a directory as a file", private, File, "is not a regular file"},
		{"nothing there", filepath.Join(dir, "nothing"), File, "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.path, tt.kind)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check = %v, want it to say %q", err, tt.want)
			}
		})
	}
}
