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
	return layer.Image("amd64", v1.Config{Env: []string{DefaultPath}, Cmd: []string{"sh"}},
		layer.Part{Layer: l, Why: "busybox from Debian " + BusyboxSuite + "'s " + BusyboxPackage + " " + debVersion})
}
