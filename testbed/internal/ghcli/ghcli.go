// Package ghcli provides the GitHub CLI, built from its module, for the
// end-to-end test of `gh attestation verify --bundle-from-oci`: the
// verifier a GitHub user runs on an image's attestations.
package ghcli

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

const (
	// Version of the GitHub CLI (the newest the Go module proxy served on
	// 2026-12-05), and Module its source.
	Version = "v2.83.0"
	Module  = "github.com/cli/cli/v2"
)

// Spec is the build of gh, its version where its release has it
// (internal/build.Version).
func Spec() modbuild.Spec {
	return modbuild.Tool("gh", Module, Version, "./cmd/gh", "gh", Module+"/internal/build.Version", strings.TrimPrefix(Version, "v"))
}

// Build returns the cache directory holding gh. The binary must say it is
// Version, else the build is an error.
func Build(ctx context.Context, s *step.Step, c cache.Dir) (string, error) {
	dir, err := modbuild.Build(ctx, s, c, Spec())
	if err != nil { // also when cached (a Skipped error)
		return dir, err
	}
	out, err := exec.CommandContext(ctx, Bin(dir), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", Bin(dir), err)
	}
	// "gh version 2.83.0 (DATE)" or, without a date, "gh version 2.83.0".
	if f := strings.Fields(string(out)); len(f) < 3 || f[2] != strings.TrimPrefix(Version, "v") {
		return "", fmt.Errorf("built gh says %q, want version %s", strings.TrimSpace(string(out)), Version)
	}
	return dir, nil
}

// Bin is gh in the build's directory.
func Bin(dir string) string { return filepath.Join(dir, "gh") }
