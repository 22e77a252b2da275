// Package layer makes OCI image layers for the test bed's images: from a
// directory tree (a debootstrapped root file system), from a stream, or from
// a list of small files. Big layers are written once as .tar.gz files into
// the cache, with their digests beside them, so reusing one costs nothing.
package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Epoch is the modification time of every file this package writes itself,
// so identical inputs give identical layers.
var Epoch = time.Unix(0, 0).UTC()

// Meta is what is kept next to a cached layer file (FILE.json).
type Meta struct {
	Digest string `json:"digest"`
	DiffID string `json:"diff_id"`
	Size   int64  `json:"size"`
}

// FromDir writes the tree under dir as a gzipped layer to dest (and
// dest.json). Special files in dev/, proc/ and sys/ are left out.
func FromDir(ctx context.Context, dir, dest string, log io.Writer) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return FromPaths(ctx, dir, names, dest, log)
}

// FromPaths writes the given paths (relative to root, kept as they are in
// the layer) as a gzipped layer to dest and dest.json. The tree is read by
// tar(1), which keeps hard links, owners and modes.
func FromPaths(ctx context.Context, root string, paths []string, dest string, log io.Writer) error {
	paths = append([]string(nil), paths...)
	sort.Strings(paths)
	args := []string{"-C", root, "--numeric-owner", "--sort=name", "--anchored", "--exclude=dev/*",
		"--exclude=proc/*", "--exclude=sys/*", "-cf", "-"}
	cmd := exec.CommandContext(ctx, "tar", append(args, paths...)...)
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting tar: %w", err)
	}
	werr := FromTar(out, dest)
	if werr != nil {
		io.Copy(io.Discard, out)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("running tar -C %s: %w", root, err)
	}
	return werr
}

// FromTar compresses the tar stream r into dest and writes dest.json.
func FromTar(r io.Reader, dest string) error {
	f, err := os.Create(dest)
	if err != nil {
		return err
	}
	defer f.Close()
	compressed := sha256.New()
	counter := &countWriter{}
	zw, err := gzip.NewWriterLevel(io.MultiWriter(f, compressed, counter), gzip.BestSpeed)
	if err != nil {
		return err
	}
	uncompressed := sha256.New()
	if _, err := io.Copy(io.MultiWriter(zw, uncompressed), r); err != nil {
		return fmt.Errorf("compressing layer %s: %w", dest, err)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	meta := Meta{
		Digest: "sha256:" + hex.EncodeToString(compressed.Sum(nil)),
		DiffID: "sha256:" + hex.EncodeToString(uncompressed.Sum(nil)),
		Size:   counter.n,
	}
	data, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	return os.WriteFile(dest+".json", data, 0o644)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// Open returns the layer cached at path by FromDir or FromTar.
func Open(p string) (v1.Layer, error) {
	data, err := os.ReadFile(p + ".json")
	if err != nil {
		return nil, fmt.Errorf("reading layer metadata: %w", err)
	}
	var m Meta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parsing layer metadata %s.json: %w", p, err)
	}
	l := &fileLayer{path: p, size: m.Size}
	if l.digest, err = v1.NewHash(m.Digest); err != nil {
		return nil, err
	}
	if l.diffID, err = v1.NewHash(m.DiffID); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(p); err != nil {
		return nil, err
	} else if fi.Size() != m.Size {
		return nil, fmt.Errorf("layer %s: size %d, metadata says %d", p, fi.Size(), m.Size)
	}
	return l, nil
}

type fileLayer struct {
	path           string
	digest, diffID v1.Hash
	size           int64
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return types.OCILayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return gunzipFile(l.path) }

func gunzipFile(p string) (io.ReadCloser, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return readCloser{zr, func() error { zr.Close(); return f.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// File is one entry of a layer made by FromFiles.
type File struct {
	// Path inside the image, without a leading slash.
	Path string
	// Mode holds the permission bits and the type: 0 or regular for a file,
	// fs.ModeDir, fs.ModeSymlink.
	Mode     os.FileMode
	UID, GID int
	// Data is a regular file's content; Link a symlink's target.
	Data []byte
	Link string
	// Source is a host file to read the content from instead of Data.
	Source string
}

// Dir is a directory entry.
func Dir(p string, perm os.FileMode, uid, gid int) File {
	return File{Path: p, Mode: os.ModeDir | perm, UID: uid, GID: gid}
}

// Text is a regular file owned by root.
func Text(p string, perm os.FileMode, data string) File {
	return File{Path: p, Mode: perm, Data: []byte(data)}
}

// Symlink is a symbolic link owned by root.
func Symlink(p, target string) File {
	return File{Path: p, Mode: os.ModeSymlink | 0o777, Link: target}
}

// HostFile is a regular file whose content is read from src on the host.
func HostFile(p string, perm os.FileMode, src string) File {
	return File{Path: p, Mode: perm, Source: src}
}

// WriteTar writes files as a tar stream, adding missing parent directories
// (root-owned, 0755) and sorting entries by path.
func WriteTar(w io.Writer, files []File) error {
	byPath := map[string]File{}
	for _, f := range files {
		p := strings.Trim(path.Clean("/"+f.Path), "/")
		if p == "" {
			return fmt.Errorf("layer entry with empty path")
		}
		f.Path = p
		byPath[p] = f
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = Dir(d, 0o755, 0, 0)
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		f := byPath[p]
		hdr := &tar.Header{
			Name: p, Mode: int64(f.Mode.Perm()), Uid: f.UID, Gid: f.GID,
			ModTime: Epoch, Format: tar.FormatPAX,
		}
		if f.Mode&os.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		if f.Mode&os.ModeSetuid != 0 {
			hdr.Mode |= 0o4000
		}
		data := f.Data
		switch {
		case f.Mode.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case f.Mode&os.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = f.Link
		default:
			hdr.Typeflag = tar.TypeReg
			if f.Source != "" {
				var err error
				if data, err = os.ReadFile(f.Source); err != nil {
					return fmt.Errorf("reading %s for layer: %w", f.Source, err)
				}
			}
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(data); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// FromFiles returns an in-memory layer holding files.
func FromFiles(files []File) (v1.Layer, error) {
	var buf bytes.Buffer
	if err := WriteTar(&buf, files); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// Pick returns the entries of the gzipped layer file at src whose paths
// equal or lie under one of paths, with owners, modes, links and contents.
// Hard links become regular files.
func Pick(src string, paths ...string) ([]File, error) {
	rc, err := gunzipFile(src)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var files []File
	contents := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", src, err)
		}
		name := clean(hdr.Name)
		if !under(name, paths) {
			continue
		}
		f := File{Path: name, Mode: os.FileMode(hdr.Mode).Perm(), UID: hdr.Uid, GID: hdr.Gid}
		if hdr.Mode&0o1000 != 0 {
			f.Mode |= os.ModeSticky
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			f.Mode |= os.ModeDir
		case tar.TypeSymlink:
			f.Mode |= os.ModeSymlink
			f.Link = hdr.Linkname
		case tar.TypeLink:
			data, ok := contents[clean(hdr.Linkname)]
			if !ok {
				return nil, fmt.Errorf("%s: hard link %s to %s outside the picked paths", src, name, hdr.Linkname)
			}
			f.Data = data
		case tar.TypeReg:
			if f.Data, err = io.ReadAll(tr); err != nil {
				return nil, err
			}
			contents[name] = f.Data
		default:
			continue
		}
		files = append(files, f)
	}
	return files, nil
}

func clean(name string) string {
	return strings.Trim(path.Clean("/"+name), "/")
}

func under(name string, paths []string) bool {
	for _, p := range paths {
		p = strings.Trim(p, "/")
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

// Cached returns the layer cached at dest, first writing it from the
// entries files returns when it is missing.
func Cached(dest string, files func() ([]File, error)) (v1.Layer, error) {
	if _, err := os.Stat(dest + ".json"); err == nil {
		return Open(dest)
	}
	fs, err := files()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(path.Dir(dest), 0o755); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(WriteTar(pw, fs)) }()
	tmp := fmt.Sprintf("%s.tmp-%d", dest, os.Getpid())
	err = FromTar(pr, tmp)
	pr.CloseWithError(io.ErrClosedPipe)
	if err == nil {
		err = os.Rename(tmp, dest)
	}
	if err == nil {
		err = os.Rename(tmp+".json", dest+".json")
	}
	if err != nil {
		os.Remove(tmp)
		os.Remove(tmp + ".json")
		return nil, fmt.Errorf("writing layer %s: %w", dest, err)
	}
	return Open(dest)
}
