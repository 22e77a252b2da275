package push

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
)

// Artifact is what gets pushed: one image, or an index of per-platform images.
type Artifact interface {
	remote.Taggable
	Digest() (v1.Hash, error)
}

// LoadOCIArchive reads an OCI image layout tar (what Dagger's AsTarball
// writes), unpacking it under dir.
func LoadOCIArchive(tarPath, dir string) (Artifact, error) {
	if err := untar(tarPath, dir); err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", tarPath, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout from %s: %w", tarPath, err)
	}
	return unwrap(idx)
}

// unwrap returns the single image or the platform index an OCI layout's
// top-level index points at.
func unwrap(idx v1.ImageIndex) (Artifact, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(im.Manifests) == 1 {
		d := im.Manifests[0]
		switch {
		case d.MediaType.IsIndex():
			inner, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			return inner, nil
		case d.MediaType.IsImage():
			return idx.Image(d.Digest)
		}
		return nil, fmt.Errorf("unsupported media type %s", d.MediaType)
	}
	if len(im.Manifests) == 0 {
		return nil, errors.New("the layout holds no image")
	}
	return idx, nil
}

// WithHealthcheck sets the Docker healthcheck on every image of a. The OCI
// image spec has no healthcheck; Docker reads it from the config anyway.
func WithHealthcheck(a Artifact, hc *dockerfile.Healthcheck) (Artifact, error) {
	if hc == nil {
		return a, nil
	}
	switch a := a.(type) {
	case v1.Image:
		return patchImage(a, hc)
	case v1.ImageIndex:
		im, err := a.IndexManifest()
		if err != nil {
			return nil, err
		}
		mt, err := a.MediaType()
		if err != nil {
			return nil, err
		}
		out := mutate.IndexMediaType(empty.Index, mt)
		for _, d := range im.Manifests {
			if !d.MediaType.IsImage() {
				return nil, fmt.Errorf("index entry %s: unsupported media type %s", d.Digest, d.MediaType)
			}
			img, err := a.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			patched, err := patchImage(img, hc)
			if err != nil {
				return nil, err
			}
			desc := d
			out = mutate.AppendManifests(out, mutate.IndexAddendum{Add: patched, Descriptor: v1.Descriptor{
				MediaType: d.MediaType, Platform: desc.Platform, Annotations: desc.Annotations,
			}})
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported artifact %T", a)
}

// ociLabel is the prefix of the OCI labels that describe an image.
const ociLabel = "org.opencontainers.image."

// WithIndexAnnotations copies the OCI labels (org.opencontainers.image.*)
// that every image of an index carries, with the same value, onto the
// index as annotations: a multi-platform image's page on GHCR shows the
// index's annotations, not its images' labels. A single image is returned
// as it is.
func WithIndexAnnotations(a Artifact) (Artifact, error) {
	idx, ok := a.(v1.ImageIndex)
	if !ok {
		return a, nil
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var common map[string]string
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading the config of %s: %w", d.Digest, err)
		}
		if common == nil {
			common = map[string]string{}
			for k, v := range cf.Config.Labels {
				if strings.HasPrefix(k, ociLabel) {
					common[k] = v
				}
			}
			continue
		}
		for k, v := range common {
			if cf.Config.Labels[k] != v {
				delete(common, k)
			}
		}
	}
	if len(common) == 0 {
		return a, nil
	}
	return mutate.Annotations(idx, common).(v1.ImageIndex), nil
}

func patchImage(img v1.Image, hc *dockerfile.Healthcheck) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Config.Healthcheck = &v1.HealthConfig{
		Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout,
		StartPeriod: hc.StartPeriod, Retries: hc.Retries,
	}
	return mutate.ConfigFile(img, cf)
}

func untar(tarPath, dir string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		if !strings.HasPrefix(target, filepath.Clean(dir)+string(os.PathSeparator)) {
			return fmt.Errorf("entry %q escapes the archive", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.Create(target)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		}
	}
}
