package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BuildKit's registry cache: a manifest (or index) whose layers are the
// cached results and whose cache config maps cache keys to them by blob
// digest (buildkit cache/remotecache/v1, spec.go).
const cacheConfigType = "application/vnd.buildkit.cacheconfig.v0"

// uncompressedAnnotation carries a layer's diff ID in the cache config and
// the manifest; BuildKit reads it instead of unpacking the blob.
const uncompressedAnnotation = "containerd.io/uncompressed"

// forgeCache does to the registry layer cache at ref what anyone who can
// push to the repository could: in the cached layer that holds dir (a
// directory some cached step wrote, named by its path's end), it adds a file called file with body,
// keeping the cache keys, so that a build that takes the layer from the
// cache compiles with it. It returns the forged cache's digest.
func forgeCache(t *testing.T, ref, dir, file, body string) string {
	t.Helper()
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(tag)
	if err != nil {
		t.Fatalf("reading the layer cache %s: %v", ref, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	// An index lists the layers and the config among its manifests; an
	// image manifest (image-manifest=true) has them in the usual places.
	listKey := "manifests"
	if desc.MediaType.IsImage() {
		listKey = "layers"
	}
	var list []v1.Descriptor
	if err := json.Unmarshal(m[listKey], &list); err != nil {
		t.Fatal(err)
	}
	var config *v1.Descriptor
	if c, ok := m["config"]; ok && listKey == "layers" {
		config = new(v1.Descriptor)
		if err := json.Unmarshal(c, config); err != nil {
			t.Fatal(err)
		}
	}
	for i := range list {
		if list[i].MediaType == cacheConfigType {
			config = &list[i]
		}
	}
	if config == nil || config.MediaType != cacheConfigType {
		t.Fatalf("%s (%s) has no BuildKit cache config", ref, desc.MediaType)
	}

	// Every layer that holds dir (one per platform, where the step's key
	// differs by platform) gets the file.
	blobs := map[v1.Hash]v1.Descriptor{} // old digest -> forged blob
	diffIDs := map[string]string{}       // old diff ID -> forged one
	seen := map[v1.Hash]bool{}
	for i := range list {
		d := &list[i]
		if d.MediaType == cacheConfigType {
			continue
		}
		if d.MediaType != types.OCILayer && d.MediaType != types.DockerLayer {
			t.Fatalf("%s: layer %s is %s; this forger only rewrites gzip layers", ref, d.Digest, d.MediaType)
		}
		// A blob may be listed more than once; each is changed alike.
		if f, ok := blobs[d.Digest]; ok {
			d.Digest, d.Size = f.Digest, f.Size
			if old := d.Annotations[uncompressedAnnotation]; old != "" {
				d.Annotations[uncompressedAnnotation] = diffIDs[old]
			}
			continue
		}
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		l, err := remote.Layer(tag.Context().Digest(d.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		blob, ok := addToLayer(t, l, dir, file, body)
		if !ok {
			continue
		}
		nl := static.NewLayer(blob, d.MediaType)
		if err := remote.WriteLayer(tag.Context(), nl); err != nil {
			t.Fatalf("pushing the forged layer: %v", err)
		}
		digest, err := nl.Digest()
		if err != nil {
			t.Fatal(err)
		}
		diffID, err := nl.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		blobs[d.Digest] = v1.Descriptor{Digest: digest, Size: int64(len(blob))}
		d.Digest, d.Size = digest, int64(len(blob))
		if old := d.Annotations[uncompressedAnnotation]; old != "" {
			diffIDs[old] = diffID.String()
			d.Annotations[uncompressedAnnotation] = diffID.String()
		}
	}
	if len(blobs) == 0 {
		t.Fatalf("no layer of %s holds %s: the cache does not hold the step the test forges", ref, dir)
	}

	// The cache config names layers by digest (and diff ID): point it at
	// the forged one.
	cl, err := remote.Layer(tag.Context().Digest(config.Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cl.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	for from, to := range blobs {
		if !bytes.Contains(cfg, []byte(from.String())) {
			t.Fatalf("the cache config does not name layer %s", from)
		}
		cfg = bytes.ReplaceAll(cfg, []byte(from.String()), []byte(to.Digest.String()))
	}
	for from, to := range diffIDs {
		cfg = bytes.ReplaceAll(cfg, []byte(from), []byte(to))
	}
	ncl := static.NewLayer(cfg, cacheConfigType)
	if err := remote.WriteLayer(tag.Context(), ncl); err != nil {
		t.Fatalf("pushing the forged cache config: %v", err)
	}
	config.Digest, _ = ncl.Digest()
	config.Size = int64(len(cfg))

	if m[listKey], err = json.Marshal(list); err != nil {
		t.Fatal(err)
	}
	if listKey == "layers" {
		if m["config"], err = json.Marshal(config); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(tag, rawManifest{raw: raw, mediaType: desc.MediaType}); err != nil {
		t.Fatalf("pushing the forged cache: %v", err)
	}
	return digestOf(t, ref)
}

// addToLayer returns l's blob (gzip) with file added to dir, if l holds
// dir.
func addToLayer(t *testing.T, l v1.Layer, dir, file, body string) ([]byte, bool) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tr := tar.NewReader(rc)
	var at *tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeDir && strings.HasSuffix("/"+strings.TrimSuffix(h.Name, "/"), "/"+dir) {
			at = h
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if at == nil {
		return nil, false
	}
	h := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimSuffix(at.Name, "/") + "/" + file, Mode: 0o444,
		Size: int64(len(body)), ModTime: at.ModTime, Uid: at.Uid, Gid: at.Gid, Format: tar.FormatPAX}
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), true
}

// rawManifest is a manifest pushed as it is.
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mediaType, nil }

// marker is a string no honest build contains.
func marker() string { return unique("gantry-e2e-forged") }
