// Package cosign provides the cosign CLI (sigstore), the independent
// verifier of the end-to-end tests' signatures and attestations: it builds
// the cosign module at a pinned version, as the release Makefile does.
package cosign

import (
	"context"
	"fmt"
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
)

// Spec is the build of the cosign binary.
func Spec() modbuild.Spec {
	return modbuild.Spec{
		Name:     "cosign",
		Module:   Module,
		Version:  Version,
		Packages: []string{"./cmd/cosign"},
		Output:   "cosign",
		LDFlags:  fmt.Sprintf("-s -w -X %s=%s", modbuild.ReleaseUtilsVersionVar, Version),
		Env:      []string{"CGO_ENABLED=0"},
	}
}

// Build returns the cache directory holding the built cosign binary. A
// fresh build must say it is Version, else it is removed again.
func Build(ctx context.Context, s *step.Step, c cache.Dir) (string, error) {
	return modbuild.BuildReleased(ctx, s, c, Spec(), "cosign")
}

// Bin is the cosign binary in the build's directory.
func Bin(binDir string) string { return filepath.Join(binDir, "cosign") }

// BinVersion reports the version the binary at path prints.
func BinVersion(ctx context.Context, path string) (string, error) {
	return modbuild.GitVersion(ctx, path)
}
