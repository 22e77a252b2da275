// Package compose provides `docker compose` (Compose v2, which Debian 12 does
// not package): Debian 13's docker-compose package, installed as a Docker
// CLI plugin. Taking it costs no build (compiling Compose took 3 minutes of
// a cold bed on 2 cores).
package compose

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/debian"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

const (
	// Package is Debian's Compose v2 package.
	Package = "docker-compose"
	// Suite is the Debian release it comes from.
	Suite = "trixie"
	// inDeb is where the package puts the plugin.
	inDeb = "usr/libexec/docker/cli-plugins/docker-compose"
)

// PluginPath is where the Docker CLI looks for the compose plugin.
const PluginPath = "/usr/local/lib/docker/cli-plugins/docker-compose"

// Fetch returns the cache directory holding the plugin, taken from
// Debian's package, and the package's version.
func Fetch(ctx context.Context, s *step.Step, c cache.Dir) (dir, version string, err error) {
	deb, version, err := debian.Fetch(ctx, s, c, Suite, Package)
	if err != nil {
		return "", "", err
	}
	dir = c.Path("bin", cache.Entry("compose", version, cache.Key(filepath.Base(deb))))
	if err := debian.Extract(ctx, deb, inDeb, filepath.Join(dir, "docker-compose")); err != nil {
		return "", "", err
	}
	cache.Prune(filepath.Dir(dir), "compose-", filepath.Base(dir))
	return dir, version, nil
}

// Install copies the plugin in dir to PluginPath unless the same file is
// already there, and checks that `docker compose` runs it.
func Install(ctx context.Context, s *step.Step, dir, version string) error {
	want, err := os.ReadFile(filepath.Join(dir, "docker-compose"))
	if err != nil {
		return err
	}
	if have, err := os.ReadFile(PluginPath); err == nil && bytes.Equal(have, want) {
		return step.Skip("%s is Debian's docker-compose %s", PluginPath, version)
	}
	s.Doing("installing %s", PluginPath)
	if err := os.MkdirAll(filepath.Dir(PluginPath), 0o755); err != nil {
		return err
	}
	tmp := PluginPath + ".tmp"
	if err := os.WriteFile(tmp, want, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, PluginPath); err != nil {
		return err
	}
	out, err := s.Output(s.Command(ctx, "docker", "compose", "version", "--short"))
	if err != nil {
		return err
	}
	// Debian's says its package version, e.g. 2.26.1-4.
	if got := strings.TrimSpace(string(out)); strings.TrimPrefix(got, "v") != version {
		return fmt.Errorf("docker compose version says %q, want %s", got, version)
	}
	return nil
}

// InstalledVersion reports the version of the installed plugin, if any.
func InstalledVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "docker", "compose", "version", "--short").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
