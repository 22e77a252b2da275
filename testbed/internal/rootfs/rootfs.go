// Package rootfs builds Debian root file systems with debootstrap and keeps
// each as a gzipped layer in the cache, keyed by suite, package list and
// post-install script, so a change rebuilds it.
package rootfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/layer"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

const (
	// Suite is the Debian release of every root file system.
	Suite = "bookworm"
	// Mirror is where debootstrap fetches packages.
	Mirror = "http://deb.debian.org/debian"
)

// Spec describes one root file system.
type Spec struct {
	// Name names the cache entry (layers/rootfs-NAME-KEY.tar.gz).
	Name string
	// Include lists the packages added to the minbase variant.
	Include []string
	// Post is a shell script run on the host after debootstrap with the
	// root file system's path in $ROOTFS (deleting caches, adding links).
	Post string
}

// cleanup runs after every Post: the root file system leaves out apt's
// lists and caches and the host's identity.
const cleanup = `
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
  "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/debconf/*-old \
  "$ROOTFS"/var/log/apt/* "$ROOTFS"/var/log/dpkg.log "$ROOTFS"/var/log/bootstrap.log \
  "$ROOTFS"/var/log/alternatives.log "$ROOTFS"/tmp/* "$ROOTFS"/root/.bash_history
: > "$ROOTFS"/etc/resolv.conf
: > "$ROOTFS"/etc/hostname
`

// Key is the cache key of the spec.
func (sp Spec) Key() string {
	inc := append([]string(nil), sp.Include...)
	sort.Strings(inc)
	return cache.Key(Suite, Mirror, "minbase", strings.Join(inc, ","), sp.Post, cleanup)
}

// Path is where the layer of sp is cached.
func Path(c cache.Dir, sp Spec) string {
	return c.Path("layers", cache.Entry("rootfs-"+sp.Name, Suite, sp.Key())+".tar.gz")
}

// Build returns the path of the cached layer of sp, building it when missing.
func Build(ctx context.Context, s *step.Step, c cache.Dir, sp Spec) (string, error) {
	dest := Path(c, sp)
	if _, err := os.Stat(dest + ".json"); err == nil {
		if _, err := os.Stat(dest); err == nil {
			return dest, step.Skip("cached %s", filepath.Base(dest))
		}
	}
	work := c.Path("work", "rootfs-"+sp.Name)
	// A leftover tree from an interrupted run may hold mounts or odd
	// permissions; debootstrap wants an empty target.
	if err := os.RemoveAll(work); err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	debs := c.Path("debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", err
	}
	args := []string{"--variant=minbase", "--cache-dir=" + debs}
	if len(sp.Include) > 0 {
		args = append(args, "--include="+strings.Join(sp.Include, ","))
	}
	args = append(args, Suite, work, Mirror)
	s.Doing("debootstrap %s with %d extra packages (network-bound, about a minute)", Suite, len(sp.Include))
	if err := s.Run(ctx, "debootstrap", args...); err != nil {
		return "", err
	}
	s.Doing("post-install script")
	post := s.Command(ctx, "sh", "-euc", sp.Post+"\n"+cleanup)
	post.Env = append(os.Environ(), "ROOTFS="+work)
	if err := s.Exec(post); err != nil {
		return "", err
	}
	s.Doing("compressing the root file system into a layer")
	if _, err := cache.Ensure(dest, func(tmp string) error {
		if err := layer.FromDir(ctx, work, tmp, s.Log()); err != nil {
			return err
		}
		return os.Rename(tmp+".json", dest+".json")
	}); err != nil {
		return "", fmt.Errorf("writing layer for rootfs %s: %w", sp.Name, err)
	}
	if err := cache.Prune(filepath.Dir(dest), "rootfs-"+sp.Name+"-", filepath.Base(dest)); err != nil {
		s.Logf("pruning old layers: %v", err)
	}
	return dest, nil
}
