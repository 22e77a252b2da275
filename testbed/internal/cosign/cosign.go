// Package cosign provides the cosign CLIs (sigstore), independent
// verifiers of the end-to-end tests' signatures and attestations: cosign
// v2 from Debian's package, which Debian builds from cosign's source (a
// release other than the cosign libraries Gantry signs with, v2.6.x, and
// no build), for the legacy `.sig`/`.att` tags; and cosign v3, built from
// its module, for the Sigstore bundles attached as OCI referrers, which
// is what cosign v3 writes and reads by default.
package cosign

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/debian"
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

const (
	// Package is Debian's cosign package.
	Package = "cosign"
	// Suite is the Debian release it comes from (Debian 12 has none;
	// Debian 13's is cosign 2.5).
	Suite = "trixie"
)

// Fetch returns the cache directory holding cosign, taken from Debian's
// package, and the package's version. The binary must run, else it is an
// error.
func Fetch(ctx context.Context, s *step.Step, c cache.Dir) (dir, version string, err error) {
	deb, version, err := debian.Fetch(ctx, s, c, Suite, Package)
	if err != nil {
		return "", "", err
	}
	dir = c.Path("bin", cache.Entry("cosign", version, cache.Key(filepath.Base(deb))))
	if err := debian.Extract(ctx, deb, "usr/bin/cosign", Bin(dir)); err != nil {
		return "", "", err
	}
	if out, err := exec.CommandContext(ctx, Bin(dir), "version").CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("%s version: %v: %s", Bin(dir), err, out)
	}
	cache.Prune(filepath.Dir(dir), "cosign-", filepath.Base(dir))
	return dir, version, nil
}

// Bin is the cosign binary in the directory Fetch returned.
func Bin(dir string) string { return filepath.Join(dir, "cosign") }

// V3 is the cosign release whose verifiers read Sigstore bundles attached
// as OCI referrers (the newest v3.0 the Go module proxy served on
// 2026-12-05), and V3Module its source.
const (
	V3       = "v3.0.3"
	V3Module = "github.com/sigstore/cosign/v3"
)

// V3Spec is the build of cosign v3 from its module, as its Makefile
// builds the release.
func V3Spec() modbuild.Spec {
	return modbuild.Tool("cosign3", V3Module, V3, "./cmd/cosign", "cosign", modbuild.ReleaseUtilsVersionVar, V3)
}

// BuildV3 returns the cache directory holding cosign v3; a fresh build
// must say it is V3.
func BuildV3(ctx context.Context, s *step.Step, c cache.Dir) (string, error) {
	return modbuild.BuildReleased(ctx, s, c, V3Spec(), "cosign")
}
