package standin

import (
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/layer"
)

// StaticRef is the runtime base stand-in (like distroless static:nonroot).
const StaticRef = Repo + "static:nonroot"

// NonrootID is the UID and GID of the nonroot user, as in distroless.
const NonrootID = 65532

// staticPicked are taken from a Debian root file system: the CA bundle
// made by ca-certificates and tzdata's zone files.
var staticPicked = []string{"etc/ssl/certs/ca-certificates.crt", "usr/share/zoneinfo"}

// staticFiles is everything in the static base except what is picked from
// Debian.
func staticFiles() []layer.File {
	files := users("/sbin/nologin", "nonroot", NonrootID, "/home/nonroot")
	return append(files,
		layer.Dir("tmp", 0o777|os.ModeSticky, 0, 0),
		layer.Dir("root", 0o700, 0, 0),
		layer.Dir("home", 0o755, 0, 0),
		layer.Dir("home/nonroot", 0o700, NonrootID, NonrootID),
		layer.Text("etc/nsswitch.conf", 0o644, "passwd: files\ngroup: files\nhosts: files dns\n"),
		layer.Text("etc/os-release", 0o644,
			"PRETTY_NAME=\"Gantry test bed static base (Debian 12 data)\"\nID=gantry-testbed-static\n"),
	)
}

// StaticLayer returns the one layer of the static base (also the base of
// the Trivy stand-in), made from the CA bundle and zone files of the
// Debian root file system layer at debianLayer, cached in c.
func StaticLayer(c cache.Dir, debianLayer string) (v1.Layer, error) {
	var names []string
	for _, f := range staticFiles() {
		names = append(names, f.Path, f.Mode.String(), string(f.Data))
	}
	key := cache.Key(append(names, filepath.Base(debianLayer))...)
	dest := c.Path("layers", cache.Entry("static", "", key)+".tar.gz")
	l, err := layer.Cached(dest, func() ([]layer.File, error) {
		picked, err := layer.Pick(debianLayer, staticPicked...)
		if err != nil {
			return nil, err
		}
		return append(picked, staticFiles()...), nil
	})
	if err == nil {
		cache.Prune(filepath.Dir(dest), "static-", filepath.Base(dest))
	}
	return l, err
}

// StaticConfig is the static base's config: nonroot, no shell, no command.
func StaticConfig() v1.Config {
	return v1.Config{
		User:       "65532",
		WorkingDir: "/home/nonroot",
		Env:        []string{DefaultPath, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
	}
}

// Static returns the static base as an index for linux/amd64 and
// linux/arm64 (its files are the same on both), and the amd64 image.
func Static(base v1.Layer) (v1.ImageIndex, v1.Image, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var amd64 v1.Image
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := layer.Image(arch, StaticConfig(), layer.Part{Layer: base, Why: "passwd, group, CA bundle, tzdata, /tmp, /home/nonroot"})
		if err != nil {
			return nil, nil, err
		}
		if arch == "amd64" {
			amd64 = img
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	return idx, amd64, nil
}
