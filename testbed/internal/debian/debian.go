// Package debian fetches binary packages from a Debian release into the
// bed's cache with apt-get, under a private configuration (its own sources
// list and package lists), so the host's apt setup is not touched. A tool
// Debian ships prebuilt is one the bed need not compile on two cores.
package debian

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/rootfs"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// Fetch returns the package pkg of Debian's suite (e.g. trixie), cached in
// c under debs-SUITE, and its version. Once a package is in the cache it is
// used as it is: the version a bed has stays until `down --purge`.
func Fetch(ctx context.Context, s *step.Step, c cache.Dir, suite, pkg string) (deb, version string, err error) {
	dir := c.Path("debs-" + suite)
	if debs, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb")); len(debs) == 1 {
		deb = debs[0]
	} else {
		for _, d := range debs {
			os.Remove(d)
		}
		// Each package has its own lists, so that fetches run at once.
		work := filepath.Join(dir, ".apt-"+pkg)
		if err := os.RemoveAll(work); err != nil {
			return "", "", err
		}
		defer os.RemoveAll(work) // the lists are large and stale tomorrow
		for _, d := range []string{"lists/partial", "cache/archives/partial"} {
			if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
				return "", "", err
			}
		}
		sources := filepath.Join(work, "sources.list")
		if err := os.WriteFile(sources, []byte("deb "+rootfs.Mirror+" "+suite+" main\n"), 0o644); err != nil {
			return "", "", err
		}
		apt := func(args ...string) *exec.Cmd {
			cmd := s.Command(ctx, "apt-get", append([]string{"-q",
				"-o", "Dir::Etc::SourceList=" + sources, "-o", "Dir::Etc::SourceParts=/dev/null",
				"-o", "Dir::State::Lists=" + filepath.Join(work, "lists"),
				"-o", "Dir::Cache=" + filepath.Join(work, "cache"),
				"-o", "APT::Sandbox::User=root"}, args...)...)
			cmd.Dir = work
			return cmd
		}
		s.Doing("apt-get download %s from Debian %s", pkg, suite)
		if err := s.Exec(apt("update")); err != nil {
			return "", "", err
		}
		if err := s.Exec(apt("download", pkg)); err != nil {
			return "", "", err
		}
		got, _ := filepath.Glob(filepath.Join(work, pkg+"_*.deb"))
		if len(got) != 1 {
			return "", "", fmt.Errorf("apt-get download left %d %s packages in %s", len(got), pkg, work)
		}
		deb = filepath.Join(dir, filepath.Base(got[0]))
		if err := os.Rename(got[0], deb); err != nil {
			return "", "", err
		}
	}
	out, err := exec.CommandContext(ctx, "dpkg-deb", "-f", deb, "Version").Output()
	if err != nil {
		return "", "", fmt.Errorf("reading the version of %s: %w", deb, err)
	}
	return deb, strings.TrimSpace(string(out)), nil
}

// Extract copies the file at path inside deb (e.g. usr/bin/cosign) to
// dest, executable, unless dest is there already.
func Extract(ctx context.Context, deb, path, dest string) error {
	_, err := cache.Ensure(filepath.Dir(dest), func(tmp string) error {
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		unpacked, err := os.MkdirTemp("", "deb-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(unpacked)
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, unpacked).CombinedOutput(); err != nil {
			return fmt.Errorf("unpacking %s: %v: %s", deb, err, out)
		}
		data, err := os.ReadFile(filepath.Join(unpacked, path))
		if err != nil {
			return fmt.Errorf("%s holds no %s: %w", filepath.Base(deb), path, err)
		}
		return os.WriteFile(filepath.Join(tmp, filepath.Base(dest)), data, 0o755)
	})
	return err
}
