package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteTar(t *testing.T) {
	files := []File{
		Text("etc/passwd", 0o644, "root:x:0:0::/root:/bin/sh\n"),
		Dir("tmp", 0o777|os.ModeSticky, 0, 0),
		Symlink("bin/sh", "busybox"),
		Dir("home/nonroot", 0o700, 65532, 65532),
	}
	var a, b bytes.Buffer
	if err := WriteTar(&a, files); err != nil {
		t.Fatal(err)
	}
	// Order of input does not matter; output is byte-identical.
	rev := []File{files[3], files[2], files[1], files[0]}
	if err := WriteTar(&b, rev); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("WriteTar output depends on input order")
	}
	type entry struct {
		typ      byte
		mode     int64
		uid      int
		link     string
		contents string
	}
	got := map[string]entry{}
	var order []string
	tr := tar.NewReader(&a)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		got[h.Name] = entry{h.Typeflag, h.Mode, h.Uid, h.Linkname, string(data)}
		order = append(order, h.Name)
	}
	want := map[string]entry{
		"bin/":          {tar.TypeDir, 0o755, 0, "", ""},
		"bin/sh":        {tar.TypeSymlink, 0o777, 0, "busybox", ""},
		"etc/":          {tar.TypeDir, 0o755, 0, "", ""},
		"etc/passwd":    {tar.TypeReg, 0o644, 0, "", "root:x:0:0::/root:/bin/sh\n"},
		"home/":         {tar.TypeDir, 0o755, 0, "", ""},
		"home/nonroot/": {tar.TypeDir, 0o700, 65532, "", ""},
		"tmp/":          {tar.TypeDir, 0o1777, 0, "", ""},
	}
	if len(got) != len(want) {
		t.Errorf("entries %v, want %d", order, len(want))
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %+v, want %+v", name, got[name], w)
		}
	}
	if order[0] != "bin/" || order[len(order)-1] != "tmp/" {
		t.Errorf("entries not sorted: %v", order)
	}
}

func TestFromDirOpenPick(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "usr/share/zoneinfo/Europe"), 0o755))
	must(os.WriteFile(filepath.Join(root, "usr/share/zoneinfo/Europe/Paris"), []byte("TZif"), 0o644))
	must(os.Link(filepath.Join(root, "usr/share/zoneinfo/Europe/Paris"), filepath.Join(root, "usr/share/zoneinfo/Europe/Monaco")))
	must(os.Symlink("Europe/Paris", filepath.Join(root, "usr/share/zoneinfo/localtime")))
	must(os.MkdirAll(filepath.Join(root, "etc/ssl/certs"), 0o755))
	must(os.WriteFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"), []byte("PEM"), 0o644))
	must(os.WriteFile(filepath.Join(root, "etc/other"), []byte("no"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "dev"), 0o755))
	must(os.WriteFile(filepath.Join(root, "dev/null-ish"), []byte("skip me"), 0o644))

	dest := filepath.Join(t.TempDir(), "l.tar.gz")
	must(FromDir(context.Background(), root, dest, io.Discard))
	l, err := Open(dest)
	must(err)
	d, _ := l.Digest()
	diff, _ := l.DiffID()
	if d == diff || d.Algorithm != "sha256" {
		t.Errorf("digest %v, diff ID %v", d, diff)
	}

	files, err := Pick(dest, "etc/ssl/certs/ca-certificates.crt", "usr/share/zoneinfo")
	must(err)
	byPath := map[string]File{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	if string(byPath["usr/share/zoneinfo/Europe/Monaco"].Data) != "TZif" {
		t.Error("hard link not turned into a regular file with the content")
	}
	if byPath["usr/share/zoneinfo/localtime"].Link != "Europe/Paris" {
		t.Error("symlink lost")
	}
	if string(byPath["etc/ssl/certs/ca-certificates.crt"].Data) != "PEM" {
		t.Error("CA bundle missing")
	}
	if _, ok := byPath["etc/other"]; ok {
		t.Error("picked a path not asked for")
	}

	all, err := Pick(dest, "dev", "etc")
	must(err)
	for _, f := range all {
		if f.Path == "dev/null-ish" {
			t.Error("dev/ contents were not left out")
		}
	}
}

func TestCached(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "sub", "c.tar.gz")
	calls := 0
	files := func() ([]File, error) {
		calls++
		return []File{Text("a", 0o644, "x")}, nil
	}
	l1, err := Cached(dest, files)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := Cached(dest, files)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := l1.Digest()
	d2, _ := l2.Digest()
	if calls != 1 || d1 != d2 {
		t.Errorf("calls %d, digests %v %v", calls, d1, d2)
	}
	rc, err := l2.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h, err := tar.NewReader(rc).Next()
	if err != nil || h.Name != "a" {
		t.Errorf("first entry %v, %v", h, err)
	}
}
