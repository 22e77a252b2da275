package standin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/hostca"
	"github.com/gantry-ci/gantry/testbed/internal/layer"
	"github.com/gantry-ci/gantry/testbed/internal/rootfs"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// GolangRootFS is the Debian part of the Go stand-in: what a Go build
// needs besides the toolchain (CA certificates for the module proxy, git
// for direct module fetches).
var GolangRootFS = rootfs.Spec{
	Name:    "golang",
	Include: []string{"ca-certificates", "git"},
}

// GoRoot is where the host's toolchain lives and where the image puts it.
const GoRoot = "/usr/local/go"

// GoVersion reads the version of the toolchain at goroot ("1.26.8").
func GoVersion(goroot string) (string, error) {
	data, err := os.ReadFile(filepath.Join(goroot, "VERSION"))
	if err != nil {
		return "", fmt.Errorf("reading Go version: %w", err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	v, ok := strings.CutPrefix(strings.TrimSpace(first), "go")
	if !ok || v == "" {
		return "", fmt.Errorf("unexpected %s/VERSION: %q", goroot, first)
	}
	return v, nil
}

// GolangRef is the Go stand-in's tag for a Go version.
func GolangRef(goVersion string) string { return Repo + "golang:" + goVersion }

// GolangConfig is the Go stand-in's config, following the official image.
func GolangConfig(goVersion string) v1.Config {
	return v1.Config{
		Env: []string{
			"PATH=/go/bin:" + GoRoot + "/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"GOLANG_VERSION=" + goVersion,
			"GOPATH=/go",
			"GOTOOLCHAIN=local",
		},
		WorkingDir: "/go",
		Cmd:        []string{"bash"},
	}
}

// Golang assembles the Go stand-in: the Debian layer at debianLayer, the
// host's toolchain at goroot (cached as a layer by its version), and /go.
func Golang(ctx context.Context, s *step.Step, c cache.Dir, debianLayer, goroot string) (v1.Image, string, error) {
	if filepath.Clean(goroot) != GoRoot {
		return nil, "", fmt.Errorf("the host's Go toolchain is at %s; the stand-in needs it at %s", goroot, GoRoot)
	}
	version, err := GoVersion(goroot)
	if err != nil {
		return nil, "", err
	}
	base, err := layer.Open(debianLayer)
	if err != nil {
		return nil, "", err
	}
	fi, err := os.Stat(filepath.Join(goroot, "VERSION"))
	if err != nil {
		return nil, "", err
	}
	key := cache.Key(goroot, version, fi.ModTime().String())
	dest := c.Path("layers", cache.Entry("gotoolchain", version, key)+".tar.gz")
	if _, err := os.Stat(dest + ".json"); err != nil {
		s.Doing("packing the host's Go %s toolchain into a layer", version)
		if _, err := cache.Ensure(dest, func(tmp string) error {
			// The layer keeps the host path, which is GoRoot (checked above).
			if err := layer.FromPaths(ctx, "/", []string{strings.TrimPrefix(goroot, "/")}, tmp, s.Log()); err != nil {
				return err
			}
			return os.Rename(tmp+".json", dest+".json")
		}); err != nil {
			return nil, "", err
		}
		cache.Prune(filepath.Dir(dest), "gotoolchain-", filepath.Base(dest))
	}
	toolchain, err := layer.Open(dest)
	if err != nil {
		return nil, "", err
	}
	gopath, err := layer.FromFiles([]layer.File{
		layer.Dir("go", 0o777|os.ModeSticky, 0, 0),
		layer.Dir("go/bin", 0o777|os.ModeSticky, 0, 0),
		layer.Dir("go/src", 0o777|os.ModeSticky, 0, 0),
	})
	if err != nil {
		return nil, "", err
	}
	parts := []layer.Part{
		{Layer: base, Why: "debootstrap --variant=minbase --include=" + strings.Join(GolangRootFS.Include, ",") + " " + rootfs.Suite},
		{Layer: toolchain, Why: "the host's Go " + version + " toolchain at " + GoRoot},
		{Layer: gopath, Why: "GOPATH /go"},
	}
	// Module downloads go over TLS through this machine's egress proxy:
	// trust what the host trusts beyond Debian's bundle.
	bundle, extra, err := hostca.ForLayer(c, debianLayer)
	if err != nil {
		return nil, "", err
	}
	if files := hostca.Files(bundle, extra); len(files) > 0 {
		ca, err := layer.FromFiles(files)
		if err != nil {
			return nil, "", err
		}
		parts = append(parts, layer.Part{Layer: ca, Why: fmt.Sprintf("%d CA certificates the host trusts beyond Debian's", len(extra))})
	}
	img, err := layer.Image("amd64", GolangConfig(version), parts...)
	return img, GolangRef(version), err
}
