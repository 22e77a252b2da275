// Package cosign provides the cosign CLI (sigstore), the independent
// verifier of the end-to-end tests' signatures and attestations: it builds
// the cosign module at a pinned version, as the release Makefile does.
package cosign

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

const (
	// Version of cosign.
	Version = "v2.6.1"
	// Module is cosign's source.
	Module = "github.com/sigstore/cosign/v2"
	// VersionVar is the variable `cosign version` prints as GitVersion
	// (cosign's Makefile sets it; release-utils v0.12.1 falls back to it
	// when the build info has no module version, as in a module copy).
	VersionVar = "sigs.k8s.io/release-utils/version.gitVersion"
)

// Spec is the build of the cosign binary.
func Spec() modbuild.Spec {
	return modbuild.Spec{
		Name:     "cosign",
		Module:   Module,
		Version:  Version,
		Packages: []string{"./cmd/cosign"},
		Output:   "cosign",
		LDFlags:  fmt.Sprintf("-s -w -X %s=%s", VersionVar, Version),
		Env:      []string{"CGO_ENABLED=0"},
	}
}

// Build returns the cache directory holding the built cosign binary. A
// fresh build must say it is Version, else it is removed again.
func Build(ctx context.Context, s *step.Step, c cache.Dir) (string, error) {
	dir, err := modbuild.Build(ctx, s, c, Spec())
	if err != nil { // also when cached (a Skipped error)
		return dir, err
	}
	v, err := BinVersion(ctx, Bin(dir))
	if err == nil && v != Version {
		err = fmt.Errorf("it says it is %q, want %s", v, Version)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("built cosign %s: %w", Version, err)
	}
	return dir, nil
}

// Bin is the cosign binary in the build's directory.
func Bin(binDir string) string { return filepath.Join(binDir, "cosign") }

// BinVersion reports the version the binary at path prints (its
// GitVersion), or an error.
func BinVersion(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, path, "version", "--json").Output()
	if err != nil {
		return "", err
	}
	var info struct{ GitVersion string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("parsing %s version --json: %w", path, err)
	}
	return info.GitVersion, nil
}
