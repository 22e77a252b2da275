package runcache

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/summary"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for path, content := range files {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestTreeDigest(t *testing.T) {
	base := map[string]string{"Dockerfile": "FROM x", "app/main.go": "package main", ".git/HEAD": "ref: a", "reports/r.json": "{}"}
	exclude := []string{"reports"}
	digest := func(t *testing.T, root string) string {
		t.Helper()
		d, err := TreeDigest(root, nil, exclude)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	want := digest(t, writeTree(t, base))

	tests := []struct {
		name   string
		change func(t *testing.T, root string)
		same   bool
	}{
		{"nothing", func(*testing.T, string) {}, true},
		{"excluded dir", func(t *testing.T, root string) { write(t, root, ".git/HEAD", "ref: b") }, true},
		{"excluded report", func(t *testing.T, root string) { write(t, root, "reports/new.sarif", "x") }, true},
		{"content", func(t *testing.T, root string) { write(t, root, "app/main.go", "package main // one line") }, false},
		{"new file", func(t *testing.T, root string) { write(t, root, "app/extra.go", "") }, false},
		{"new empty dir", func(t *testing.T, root string) { mkdir(t, root, "app/sub") }, false},
		{"mode", func(t *testing.T, root string) { chmod(t, root, "Dockerfile", 0o755) }, false},
		{"rename", func(t *testing.T, root string) { rename(t, root, "app/main.go", "app/main2.go") }, false},
		{"symlink", func(t *testing.T, root string) { symlink(t, root, "Dockerfile", "link") }, false},
		{"nested .git is not excluded", func(t *testing.T, root string) { write(t, root, "app/.git", "x") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, base)
			tt.change(t, root)
			if got := digest(t, root); (got == want) != tt.same {
				t.Errorf("digest same = %v, want %v", got == want, tt.same)
			}
		})
	}
}

// Only what the upload keeps is part of the digest: the include list of the
// test stage, and the .dockerignore of the build context.
func TestTreeDigestPatterns(t *testing.T) {
	base := map[string]string{"go.mod": "module x", "app/main.go": "package main", "docs/a.md": "a",
		"testbed/bed.go": "package bed", "ci/main.go": "package main", "ci/internal/a/a.go": "package a"}
	tests := []struct {
		name             string
		include, exclude []string
		change           string // file written
		same             bool
	}{
		{"included file", []string{"go.mod", "app", "ci"}, nil, "app/main.go", false},
		{"deep in an included dir", []string{"go.mod", "app", "ci"}, nil, "ci/internal/a/b.go", false},
		{"outside the include list", []string{"go.mod", "app", "ci"}, nil, "testbed/bed.go", true},
		{"a new top-level file", []string{"go.mod", "app", "ci"}, nil, "README.md", true},
		{"excluded below an included dir", []string{"app"}, []string{"app/**/*_test.go"}, "app/x_test.go", true},
		{"allowlist keeps", nil, []string{"*", "!go.mod", "!app"}, "app/new.go", false},
		{"allowlist drops", nil, []string{"*", "!go.mod", "!app"}, "ci/main.go", true},
		{"an exception under an excluded dir", nil, []string{"ci", "!ci/keep.txt"}, "ci/keep.txt", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			digest := func(root string) string {
				d, err := TreeDigest(root, tt.include, tt.exclude)
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			root := writeTree(t, base)
			before := digest(root)
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, tt.change)), 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, root, tt.change, "changed")
			if after := digest(root); (after == before) != tt.same {
				t.Errorf("digest same = %v after writing %s, want %v", after == before, tt.change, tt.same)
			}
		})
	}
}

func write(t *testing.T, root, path, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, path), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, root, path string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(root, path), 0o755); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, root, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(filepath.Join(root, path), mode); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, root, from, to string) {
	t.Helper()
	if err := os.Rename(filepath.Join(root, from), filepath.Join(root, to)); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, root, target, link string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
		t.Fatal(err)
	}
}

func TestKey(t *testing.T) {
	type in struct {
		Source string
		Tags   []string
	}
	a, err := Key(in{"s1", []string{"latest"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Key(in{"s1", []string{"latest"}})
	c, _ := Key(in{"s2", []string{"latest"}})
	d, _ := Key(in{"s1", []string{"latest", "1.2.3"}})
	if a != b {
		t.Error("equal inputs give different keys")
	}
	if a == c || a == d {
		t.Error("different inputs give the same key")
	}
	if _, err := Key(func() {}); err == nil {
		t.Error("Key accepted inputs it can't encode")
	}
}

func open(t *testing.T, dir string) Cache {
	t.Helper()
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStoreLookupRestore(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "runs"))
	reports := writeTree(t, map[string]string{"trivy-linux-amd64.json": `{"Results":[]}`, "sbom-linux-amd64.cdx.json": "{}"})
	files := []string{filepath.Join(reports, "trivy-linux-amd64.json"), filepath.Join(reports, "sbom-linux-amd64.cdx.json")}
	finished := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	e := Entry{Key: "k1", Finished: finished, Summary: summary.Summary{
		Image:  "registry/app",
		Stages: []summary.Stage{{Name: "build", Status: "passed", Duration: 3 * time.Second}, {Name: "publish", Status: "skipped", Detail: "--dry-run"}},
		Digest: "sha256:" + strings.Repeat("ab", 32),
	}}

	if got, err := c.Lookup("k1"); err != nil || got != nil {
		t.Fatalf("Lookup on an empty cache = %v, %v; want a miss", got, err)
	}
	if err := c.Store(e, files); err != nil {
		t.Fatal(err)
	}
	got, err := c.Lookup("k1")
	if err != nil || got == nil {
		t.Fatalf("Lookup after Store = %v, %v", got, err)
	}
	if got.Summary.Digest != e.Summary.Digest || !got.Finished.Equal(finished) || len(got.Reports) != 2 {
		t.Errorf("entry = %+v", got)
	}
	if other, _ := c.Lookup("k2"); other != nil {
		t.Error("another key hits")
	}

	out := filepath.Join(t.TempDir(), "out")
	paths, err := c.Restore(got, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("restored %v", paths)
	}
	if data, err := os.ReadFile(filepath.Join(out, "trivy-linux-amd64.json")); err != nil || string(data) != `{"Results":[]}` {
		t.Errorf("restored report = %q, %v", data, err)
	}

	s := Cached(got)
	if s.Stages[0].Status != "cached" || s.Stages[1].Status != "skipped" {
		t.Errorf("Cached stages = %+v", s.Stages)
	}
	if got.Summary.Stages[0].Status != "passed" {
		t.Error("Cached changed the entry it was given")
	}

	// A lost report or a damaged entry is a miss, never a wrong answer.
	if err := os.Remove(filepath.Join(c.Dir, "k1", "reports", "sbom-linux-amd64.cdx.json")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Lookup("k1"); err != nil || got != nil {
		t.Errorf("Lookup with a lost report = %v, %v; want a miss", got, err)
	}
	if err := c.Store(e, files); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(c.Dir, "k1"), entryFile, "{not json")
	if got, err := c.Lookup("k1"); err != nil || got != nil {
		t.Errorf("Lookup of a damaged entry = %v, %v; want a miss", got, err)
	}

	// Storing again replaces the entry whole and leaves no temporary dirs.
	if err := c.Store(e, files[:1]); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Lookup("k1"); got == nil || len(got.Reports) != 1 {
		t.Errorf("entry after a second Store = %+v", got)
	}
	dirs, _ := os.ReadDir(c.Dir)
	var entries []string
	for _, d := range dirs {
		if d.Name() != keyFile {
			entries = append(entries, d.Name())
		}
	}
	if len(entries) != 1 {
		t.Errorf("cache dir holds %v, want one entry", entries)
	}
}

// Only an entry this cache wrote is a hit: edited, planted or copied entries
// are misses.
func TestForgedEntriesMiss(t *testing.T) {
	digest := "sha256:" + strings.Repeat("cd", 32)
	report := filepath.Join(t.TempDir(), "trivy-linux-amd64.json")
	write(t, filepath.Dir(report), filepath.Base(report), `{"Results":[]}`)
	store := func(t *testing.T, c Cache, key string) {
		t.Helper()
		e := Entry{Key: key, Summary: summary.Summary{Image: "r/app", Digest: digest,
			Stages: []summary.Stage{{Name: "scan", Status: "passed"}}}}
		if err := c.Store(e, []string{report}); err != nil {
			t.Fatal(err)
		}
	}
	edit := func(t *testing.T, path string, f func(string) string) {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(f(string(data))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, c Cache)
	}{
		{"an edited verdict", func(t *testing.T, c Cache) {
			edit(t, filepath.Join(c.Dir, "k1", entryFile), func(s string) string { return strings.Replace(s, `"passed"`, `"passed "`, 1) })
		}},
		{"an edited report", func(t *testing.T, c Cache) {
			edit(t, filepath.Join(c.Dir, "k1", "reports", "trivy-linux-amd64.json"), func(string) string { return `{"Results":null}` })
		}},
		{"an entry copied from another key", func(t *testing.T, c Cache) {
			store(t, c, "k2")
			os.RemoveAll(filepath.Join(c.Dir, "k1"))
			if err := os.Rename(filepath.Join(c.Dir, "k2"), filepath.Join(c.Dir, "k1")); err != nil {
				t.Fatal(err)
			}
			edit(t, filepath.Join(c.Dir, "k1", entryFile), func(s string) string { return strings.Replace(s, `"k2"`, `"k1"`, 1) })
		}},
		{"an entry without its signature", func(t *testing.T, c Cache) {
			os.Remove(filepath.Join(c.Dir, "k1", macFile))
		}},
		{"an entry signed with another cache's key", func(t *testing.T, c Cache) {
			other := open(t, filepath.Join(t.TempDir(), "runs"))
			store(t, other, "k1")
			os.RemoveAll(filepath.Join(c.Dir, "k1"))
			if err := os.Rename(filepath.Join(other.Dir, "k1"), filepath.Join(c.Dir, "k1")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t, filepath.Join(t.TempDir(), "runs"))
			store(t, c, "k1")
			if e, err := c.Lookup("k1"); err != nil || e == nil {
				t.Fatalf("the untouched entry misses: %v", err)
			}
			tt.tamper(t, c)
			if e, err := c.Lookup("k1"); err != nil || e != nil {
				t.Errorf("Lookup = %+v, %v; want a miss", e, err)
			}
		})
	}
}

// Even a signed entry is checked: report names are base names and the
// digest parses, so an entry can't write outside --report-dir or inject
// lines into GITHUB_OUTPUT.
func TestSignedButMalformedEntriesMiss(t *testing.T) {
	tests := []struct {
		name    string
		reports []string
		digest  string
	}{
		{"a report name with a path", []string{"../.git/hooks/pre-commit"}, ""},
		{"a digest with a newline", nil, "sha256:" + strings.Repeat("ab", 32) + "\nimage=evil"},
		{"a digest that isn't one", nil, "sha256:abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t, filepath.Join(t.TempDir(), "runs"))
			e := Entry{Key: "k1", Reports: tt.reports, Summary: summary.Summary{Digest: tt.digest}}
			data, _ := json.Marshal(e)
			dir := filepath.Join(c.Dir, "k1")
			os.MkdirAll(dir, 0o700)
			files := map[string][]byte{}
			for _, r := range tt.reports {
				files[r] = []byte("x")
				p := filepath.Join(dir, "reports", r)
				os.MkdirAll(filepath.Dir(p), 0o700)
				os.WriteFile(p, []byte("x"), 0o600)
			}
			write(t, dir, entryFile, string(data))
			write(t, dir, macFile, hex.EncodeToString(c.sign("k1", data, files)))
			if got, err := c.Lookup("k1"); err != nil || got != nil {
				t.Errorf("Lookup = %+v, %v; want a miss", got, err)
			}
		})
	}
}

// withMode makes a cache directory with permissions perm (Mkdir's are
// filtered by the umask, Chmod's are not).
func withMode(perm os.FileMode) func(t *testing.T) string {
	return func(t *testing.T) string {
		d := filepath.Join(t.TempDir(), "runs")
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, perm); err != nil {
			t.Fatal(err)
		}
		return d
	}
}

// A cache directory others could write to is not used at all.
func TestOpenRefusesUnsafeDirs(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		want  string
	}{
		{"group-writable", withMode(0o770), "others may write it"},
		{"world-writable", withMode(0o777), "others may write it"},
		{"a symlink", func(t *testing.T) string {
			real := filepath.Join(t.TempDir(), "real")
			os.Mkdir(real, 0o700)
			link := filepath.Join(t.TempDir(), "runs")
			os.Symlink(real, link)
			return link
		}, "is a symlink"},
		{"another user's", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "runs")
			os.Mkdir(d, 0o700)
			if err := os.Chown(d, 65534, 65534); err != nil {
				t.Skipf("can't give the directory away (not root): %v", err)
			}
			return d
		}, "belongs to uid 65534"},
		{"a key others can read", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "runs")
			open(t, d)
			os.Chmod(filepath.Join(d, keyFile), 0o644)
			return d
		}, "others may read or write it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.setup(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: err = %v, want it to say %q", err, tt.want)
			}
		})
	}
}
