// Package buildkit provides the peer stack that bench/peer.sh measures
// Gantry against (docker/build-push-action's): BuildKit's daemon in an
// image laid out like moby/buildkit's, and the docker buildx plugin, both
// built from their modules and cached by version like the bed's other
// tools. Only `testbed peer` builds them; `up` and `.ci/run` never do.
package buildkit

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1"

	"github.com/gantry-ci/gantry/testbed/internal/engine"
	"github.com/gantry-ci/gantry/testbed/internal/layer"
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/rootfs"
)

const (
	// Version of BuildKit and buildx (the newest the Go module proxy
	// served on 2026-12-05), and Module, BuildxModule their sources.
	Version       = "v0.34.2"
	Module        = "github.com/moby/buildkit"
	BuildxVersion = "v0.38.2"
	BuildxModule  = "github.com/docker/buildx"

	// Image is the BuildKit image's tag in the local Docker engine.
	Image = "gantry-testbed/buildkit:" + Version
	// ConfigPath is buildkitd's default configuration file, where the
	// image carries the bed's plain-HTTP registries.
	ConfigPath = "/etc/buildkit/buildkitd.toml"
	stateDir   = "/var/lib/buildkit"
)

// DaemonSpec is the build of buildkitd and buildctl (the docker-container
// driver of buildx talks to the daemon through `buildctl dial-stdio`), as
// BuildKit's release builds them: static, pure Go, optimized, since the
// benchmark times what they do.
func DaemonSpec() modbuild.Spec {
	return modbuild.Spec{
		Name: "buildkit", Module: Module, Version: Version,
		Packages: []string{"./cmd/buildkitd", "./cmd/buildctl"},
		Tags:     []string{"osusergo", "netgo", "static_build"},
		LDFlags:  fmt.Sprintf("-s -w -X %[1]s/version.Version=%[2]s -X %[1]s/version.Package=%[1]s", Module, Version),
		Env:      []string{"CGO_ENABLED=0"},
	}
}

// BuildxSpec is the build of the docker CLI plugin docker-buildx.
func BuildxSpec() modbuild.Spec {
	return modbuild.Spec{
		Name: "buildx", Module: BuildxModule, Version: BuildxVersion,
		Packages: []string{"./cmd/buildx"}, Output: "docker-buildx",
		LDFlags: fmt.Sprintf("-s -w -X %[1]s/version.Version=%[2]s -X %[1]s/version.Package=%[1]s", BuildxModule, BuildxVersion),
		Env:     []string{"CGO_ENABLED=0"},
	}
}

// Buildx is the plugin in its build directory.
func Buildx(dir string) string { return filepath.Join(dir, "docker-buildx") }

// RootFS is the daemon's operating system: what moby/buildkit's image
// installs (git, ssh, decompressors) with runc from Debian.
var RootFS = rootfs.Spec{
	Name:    "buildkit",
	Include: []string{"ca-certificates", "git", "openssh-client", "pigz", "xz-utils", "runc", "procps"},
	Post:    `mkdir -p "$ROOTFS` + stateDir + `" "$ROOTFS/etc/buildkit"`,
}

// Assemble builds the image from the root file system layer and the
// daemon's build directory. Its entrypoint is buildkitd, as in
// moby/buildkit; its configuration trusts the registries in insecure over
// plain HTTP (the bed's, on docker0).
func Assemble(rootfsLayer, binDir string, insecure []string) (v1.Image, error) {
	base, err := layer.Open(rootfsLayer)
	if err != nil {
		return nil, err
	}
	bins, err := layer.FromFiles([]layer.File{
		layer.HostFile("usr/bin/buildkitd", 0o755, filepath.Join(binDir, "buildkitd")),
		layer.HostFile("usr/bin/buildctl", 0o755, filepath.Join(binDir, "buildctl")),
		// The same format as the engine's engine.toml: the engine is BuildKit.
		layer.Text(strings.TrimPrefix(ConfigPath, "/"), 0o644, engine.Config{Insecure: insecure}.TOML()),
	})
	if err != nil {
		return nil, err
	}
	return layer.Image("amd64", v1.Config{
		Entrypoint: []string{"buildkitd"},
		// Unlike moby/buildkit's image, no BUILDKIT_SETUP_CGROUPV2_ROOT: that
		// moves every process of /sys/fs/cgroup into a child group, and here
		// the container runs with the host's cgroup tree mounted (the
		// engine's flags: docker run --privileged fails on this host,
		// TESTBED.md).
		Env:     []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Volumes: map[string]struct{}{stateDir: {}},
		Labels: map[string]string{
			"org.opencontainers.image.version": Version,
			"org.opencontainers.image.title":   "BuildKit built by Gantry's test bed",
		},
	},
		layer.Part{Layer: base, Why: "debootstrap --variant=minbase " + rootfs.Suite},
		layer.Part{Layer: bins, Why: "buildkit " + Version + " built from source"})
}
