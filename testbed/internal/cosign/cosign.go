// Package cosign provides the cosign CLI (sigstore), the independent
// verifier of the end-to-end tests' signatures and attestations: Debian's
// package, which Debian builds from cosign's source. It is another release
// than the cosign libraries Gantry signs with (v2.6.x), which makes it the
// more independent check, and it costs no build: compiling cosign took
// 4.5 minutes of a cold bed's 30 on 2 cores.
package cosign

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/debian"
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
