// Package compose provides `docker compose` (Compose v2, which Debian 12 does
// not package): it builds the compose module at a pinned version and
// installs the binary as a Docker CLI plugin.
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
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

const (
	// Version of Compose.
	Version = "v2.40.3"
	// Module is Compose's source.
	Module = "github.com/docker/compose/v2"
)

// PluginPath is where the Docker CLI looks for the compose plugin.
const PluginPath = "/usr/local/lib/docker/cli-plugins/docker-compose"

// Spec is the build of the compose binary.
func Spec() modbuild.Spec {
	return modbuild.Spec{
		Name:     "compose",
		Module:   Module,
		Version:  Version,
		Packages: []string{"./cmd"},
		Output:   "docker-compose",
		LDFlags:  fmt.Sprintf("-s -w -X %s/internal.Version=%s", Module, Version),
		Env:      []string{"CGO_ENABLED=0"},
	}
}

// Build returns the cache directory holding the built plugin binary.
func Build(ctx context.Context, s *step.Step, c cache.Dir) (string, error) {
	return modbuild.Build(ctx, s, c, Spec())
}

// Install copies the built plugin to PluginPath unless the same file is
// already there.
func Install(ctx context.Context, s *step.Step, binDir string) error {
	src := filepath.Join(binDir, "docker-compose")
	want, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if have, err := os.ReadFile(PluginPath); err == nil && bytes.Equal(have, want) {
		return step.Skip("%s is compose %s", PluginPath, Version)
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
	if got := strings.TrimSpace(string(out)); "v"+strings.TrimPrefix(got, "v") != Version {
		return fmt.Errorf("docker compose version says %q, want %s", got, Version)
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
