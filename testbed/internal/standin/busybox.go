package standin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/layer"
	"github.com/gantry-ci/gantry/testbed/internal/rootfs"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// BusyboxPackage is the Debian package the probe's binary comes from.
const BusyboxPackage = "busybox-static"

// BusyboxSuite is the Debian release it is taken from. Bookworm's busybox
// (1.35) is built without wget's -T (timeout) and crashes when given it
// (fixed in Debian's 1.36.1-5); trixie's is 1.37, the version of the
// upstream busybox image the pipeline pins, and static, so it runs in the
// probe without any library.
const BusyboxSuite = "trixie"

// BusyboxTag turns a Debian version (1:1.37.0-6+b9) into an image tag
// (1.37.0-6_b9): no epoch, and '_' where tags allow no '+' or '~'.
func BusyboxTag(debVersion string) string {
	if _, after, ok := strings.Cut(debVersion, ":"); ok {
		debVersion = after
	}
	return strings.NewReplacer("+", "_", "~", "_").Replace(debVersion)
}

// BusyboxRef is the probe's reference for a Debian package version.
func BusyboxRef(debVersion string) string { return Repo + "busybox:" + BusyboxTag(debVersion) }

// FetchBusybox returns the busybox-static package of BusyboxSuite, cached
// in c, and its version. It downloads it with apt-get using a private
// configuration under the cache (its own sources list and package lists),
// so the host's apt setup is not touched.
func FetchBusybox(ctx context.Context, s *step.Step, c cache.Dir) (deb, version string, err error) {
	dir := c.Path("debs-" + BusyboxSuite)
	if debs, _ := filepath.Glob(filepath.Join(dir, BusyboxPackage+"_*.deb")); len(debs) == 1 {
		deb = debs[0]
	} else {
		if err := os.RemoveAll(dir); err != nil {
			return "", "", err
		}
		for _, d := range []string{"lists/partial", "cache/archives/partial"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				return "", "", err
			}
		}
		sources := filepath.Join(dir, "sources.list")
		if err := os.WriteFile(sources, []byte("deb "+rootfs.Mirror+" "+BusyboxSuite+" main\n"), 0o644); err != nil {
			return "", "", err
		}
		apt := func(args ...string) *exec.Cmd {
			cmd := s.Command(ctx, "apt-get", append([]string{"-q",
				"-o", "Dir::Etc::SourceList=" + sources, "-o", "Dir::Etc::SourceParts=/dev/null",
				"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists"),
				"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
				"-o", "APT::Sandbox::User=root"}, args...)...)
			cmd.Dir = dir
			return cmd
		}
		s.Doing("apt-get download %s from Debian %s", BusyboxPackage, BusyboxSuite)
		if err := s.Exec(apt("update")); err != nil {
			return "", "", err
		}
		if err := s.Exec(apt("download", BusyboxPackage)); err != nil {
			return "", "", err
		}
		// Keep only the package: the lists are large and stale tomorrow.
		os.RemoveAll(filepath.Join(dir, "lists"))
		os.RemoveAll(filepath.Join(dir, "cache"))
		debs, _ := filepath.Glob(filepath.Join(dir, BusyboxPackage+"_*.deb"))
		if len(debs) != 1 {
			return "", "", fmt.Errorf("apt-get download left %d %s packages in %s", len(debs), BusyboxPackage, dir)
		}
		deb = debs[0]
	}
	out, err := exec.CommandContext(ctx, "dpkg-deb", "-f", deb, "Version").Output()
	if err != nil {
		return "", "", fmt.Errorf("reading the version of %s: %w", deb, err)
	}
	return deb, strings.TrimSpace(string(out)), nil
}

// Busybox assembles the probe from the busybox-static package at deb:
// the static binary with a symlink for every applet in /bin (sh, wget, …),
// root and nobody, and /tmp.
func Busybox(ctx context.Context, c cache.Dir, deb, debVersion string) (v1.Image, error) {
	key := cache.Key(debVersion, filepath.Base(deb))
	dest := c.Path("layers", cache.Entry("busybox", BusyboxTag(debVersion), key)+".tar.gz")
	l, err := layer.Cached(dest, func() ([]layer.File, error) {
		tmp, err := os.MkdirTemp("", "busybox-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("unpacking %s: %v: %s", deb, err, out)
		}
		bin := ""
		for _, p := range []string{"usr/bin/busybox", "bin/busybox"} {
			if fi, err := os.Stat(filepath.Join(tmp, p)); err == nil && fi.Mode().IsRegular() {
				bin = filepath.Join(tmp, p)
				break
			}
		}
		if bin == "" {
			return nil, fmt.Errorf("%s holds no busybox binary", deb)
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		out, err := exec.CommandContext(ctx, bin, "--list").Output()
		if err != nil {
			return nil, fmt.Errorf("listing busybox applets: %w", err)
		}
		applets := strings.Fields(string(out))
		sort.Strings(applets)
		files := users("/bin/sh", "", 0, "")
		files = append(files,
			layer.File{Path: "bin/busybox", Mode: 0o755, Data: data},
			layer.Dir("tmp", 0o777|os.ModeSticky, 0, 0),
			layer.Dir("root", 0o700, 0, 0),
		)
		for _, a := range applets {
			if a != "busybox" && !strings.Contains(a, "/") {
				files = append(files, layer.Symlink("bin/"+a, "busybox"))
			}
		}
		return files, nil
	})
	if err != nil {
		return nil, err
	}
	cache.Prune(filepath.Dir(dest), "busybox-", filepath.Base(dest))
	return image("amd64", v1.Config{Env: []string{DefaultPath}, Cmd: []string{"sh"}},
		part{l, "busybox from Debian " + BusyboxSuite + "'s " + BusyboxPackage + " " + debVersion})
}
