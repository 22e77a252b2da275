// Package engine assembles the Dagger engine image (a Debian root file
// system, the binaries built from source in the official layout, an
// entrypoint and an engine.toml that trusts the bed's plain-HTTP
// registries), loads it into Docker and runs it as the bed's engine
// container.
package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/daggerbuild"
	"github.com/gantry-ci/gantry/testbed/internal/dockercli"
	"github.com/gantry-ci/gantry/testbed/internal/layer"
	"github.com/gantry-ci/gantry/testbed/internal/rootfs"
	"github.com/gantry-ci/gantry/testbed/internal/state"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

const (
	// Image is the engine image's tag in the local Docker engine.
	Image = "gantry-testbed/dagger-engine:" + daggerbuild.Version
	// Container is the engine container's name.
	Container = "gantry-testbed-dagger"
	// Volume holds the engine's state (/var/lib/dagger).
	Volume = "gantry-testbed-dagger-state"
	// RunnerHost points the Dagger CLI at the engine container.
	RunnerHost = "docker-container://" + Container
	// TCPAddr is where the same engine also serves on plain TCP, on the
	// host's loopback only: a shared engine, as runners reach one through
	// _EXPERIMENTAL_DAGGER_RUNNER_HOST=tcp://…. Unauthenticated, so never
	// on an address others can reach.
	TCPAddr = "127.0.0.1:5030"
	// RunnerHostTCP points the Dagger CLI at TCPAddr.
	RunnerHostTCP = "tcp://" + TCPAddr
	// tcpPort is the engine's TCP port inside its container.
	tcpPort = "1234"
	// KeyLabel carries the hash of the image and flags a container was
	// created with, so a changed engine replaces it.
	KeyLabel = state.Label + ".key"
)

// Paths inside the image (the official image's layout).
const (
	entrypointPath = "/usr/local/bin/dagger-entrypoint.sh"
	configPath     = "/etc/dagger/engine.toml"
	engineBin      = "/usr/local/bin/dagger-engine"
	stateDir       = "/var/lib/dagger"
)

// RootFS is the engine's operating system: what the official image installs
// (git, ssh, decompressors, iptables and dnsmasq for CNI, e2fsprogs, ripgrep,
// sqlite) plus runc and the standard CNI plugins, from Debian.
var RootFS = rootfs.Spec{
	Name: "engine",
	Include: []string{
		"ca-certificates", "mount", "coreutils", "git", "openssh-client", "pigz", "xz-utils",
		"iptables", "dnsmasq-base", "e2fsprogs", "ripgrep", "sqlite3", "runc", "procps",
		"iproute2", "containernetworking-plugins",
	},
	Post: `
mkdir -p "$ROOTFS/opt/cni/bin" "$ROOTFS/var/lib/dagger" "$ROOTFS/etc/dagger"
for p in bridge loopback firewall host-local; do cp -a "$ROOTFS/usr/lib/cni/$p" "$ROOTFS/opt/cni/bin/$p"; done
ln -sf /usr/sbin/runc "$ROOTFS/usr/local/bin/runc"
`,
}

// Config is what goes into engine.toml.
type Config struct {
	// Insecure lists host:port registries spoken to over plain HTTP.
	Insecure []string
	// Mirrors maps a registry host to mirrors for its pulls (an air-gapped
	// site: "docker.io" -> ["mirror.example:5000"]).
	Mirrors map[string][]string
}

// BedRegistries are the registries the bed's engine trusts over plain HTTP:
// ports 5000-5009 on docker0 (5000 and 5001 are the bed's, the rest are for
// tests' own registries).
func BedRegistries(host string) []string {
	var r []string
	for port := 5000; port <= 5009; port++ {
		r = append(r, fmt.Sprintf("%s:%d", host, port))
	}
	return r
}

// TOML renders engine.toml (buildkitd's format).
func (c Config) TOML() string {
	hosts := map[string]bool{}
	for _, h := range c.Insecure {
		hosts[h] = true
	}
	for h := range c.Mirrors {
		hosts[h] = true
	}
	names := make([]string, 0, len(hosts))
	for h := range hosts {
		names = append(names, h)
	}
	sort.Strings(names)
	insecure := map[string]bool{}
	for _, h := range c.Insecure {
		insecure[h] = true
	}
	var b strings.Builder
	b.WriteString("# Written by Gantry's test bed.\n")
	for _, h := range names {
		fmt.Fprintf(&b, "\n[registry.%q]\n", h)
		if ms := c.Mirrors[h]; len(ms) > 0 {
			quoted := make([]string, len(ms))
			for i, m := range ms {
				quoted[i] = fmt.Sprintf("%q", m)
			}
			fmt.Fprintf(&b, "  mirrors = [%s]\n", strings.Join(quoted, ", "))
		}
		if insecure[h] {
			b.WriteString("  http = true\n  insecure = true\n")
		}
	}
	return b.String()
}

// Entrypoint is the engine container's entrypoint script.
const Entrypoint = `#!/bin/sh
# Gantry test bed: start the Dagger engine as PID 1.
set -e

# On a pure cgroup v2 host, nested containers need the controllers delegated:
# park our processes in a child group first, since a group with processes
# cannot hand controllers down.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	mkdir -p /sys/fs/cgroup/engine-init
	while read -r pid; do echo "$pid" > /sys/fs/cgroup/engine-init/cgroup.procs 2>/dev/null || true; done < /sys/fs/cgroup/cgroup.procs
	for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c"; done | tr '\n' ' ' > /sys/fs/cgroup/cgroup.subtree_control || true
fi

# Per-client SQLite databases want many open files; take what we may.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec ` + engineBin + ` --config ` + configPath + ` "$@"
`

// Instance is one engine container: its name, the volume that holds its
// state, and the host loopback address where it also serves TCP ("" for
// none).
type Instance struct {
	Container, Volume, TCPAddr string
}

// Bed is the bed's engine.
var Bed = Instance{Container: Container, Volume: Volume, TCPAddr: TCPAddr}

// RunnerHost points the Dagger CLI at the instance.
func (in Instance) RunnerHost() string { return "docker-container://" + in.Container }

// RunArgs are the `docker run` arguments of the engine container. The
// flags grant what --privileged would, minus CAP_SYS_RESOURCE, which this
// kind of host lacks in its bounding set (so --privileged fails).
func (in Instance) RunArgs(imageID, key string) []string {
	args := []string{
		"run", "-d", "--name", in.Container,
		"--label", state.Label + "=" + state.LabelValue,
		"--label", KeyLabel + "=" + key,
		"--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
		"--security-opt", "seccomp=unconfined",
		"--security-opt", "apparmor=unconfined",
		"--security-opt", "systempaths=unconfined",
		"--device-cgroup-rule", "a *:* rwm",
		"-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
		"-v", in.Volume + ":" + stateDir,
	}
	if in.TCPAddr == "" {
		return append(args, imageID)
	}
	return append(args, "-p", in.TCPAddr+":"+tcpPort, imageID,
		// Besides its default unix sockets, which the engine always keeps.
		"--addr", "tcp://0.0.0.0:"+tcpPort)
}

// Start creates the instance's volume and container from image (an ID or
// a tag of the local Docker engine), labelled as the bed's so that `down`
// removes them, and waits until the engine answers.
func (in Instance) Start(ctx context.Context, s *step.Step, image, key string) error {
	s.Doing("creating volume %s and container %s", in.Volume, in.Container)
	if err := s.Run(ctx, "docker", "volume", "create", "--label", state.Label+"="+state.LabelValue, in.Volume); err != nil {
		return err
	}
	if err := s.Run(ctx, "docker", in.RunArgs(image, key)...); err != nil {
		return err
	}
	return in.waitRunning(ctx, s)
}

// Remove removes the instance's container and volume.
func (in Instance) Remove(ctx context.Context, s *step.Step) error {
	if err := s.Run(ctx, "docker", "rm", "-f", "-v", in.Container); err != nil {
		return err
	}
	return s.Run(ctx, "docker", "volume", "rm", "-f", in.Volume)
}

// Assemble builds the engine image from the rootfs layer and the build
// directory of the Dagger binaries. The binaries layer is cached next to
// the rootfs layer.
func Assemble(ctx context.Context, s *step.Step, c cache.Dir, rootfsLayer, binDir string, cfg Config) (v1.Image, error) {
	base, err := layer.Open(rootfsLayer)
	if err != nil {
		return nil, err
	}
	binsPath := c.Path("layers", "dagger-bins-"+filepath.Base(binDir)+".tar.gz")
	if _, err := cache.Ensure(binsPath, func(tmp string) error {
		s.Doing("packing the engine binaries into a layer")
		return writeBinsLayer(binDir, tmp, binsPath)
	}); err != nil {
		return nil, err
	}
	if err := cache.Prune(filepath.Dir(binsPath), "dagger-bins-", filepath.Base(binsPath)); err != nil {
		s.Logf("pruning: %v", err)
	}
	bins, err := layer.Open(binsPath)
	if err != nil {
		return nil, err
	}
	// No certificates in /usr/local/share/ca-certificates: with any there,
	// the engine runs update-ca-certificates twice around every exec in a
	// Debian-like container (engine/buildkit/cacerts in v0.19.10), a shell
	// script that forks sed per certificate; in the e2e suite that was a
	// quarter of the machine's CPU. The images that fetch over TLS (the Go
	// stand-in) carry the host's extra CAs in their own bundle instead.
	conf, err := layer.FromFiles([]layer.File{
		layer.Text(strings.TrimPrefix(entrypointPath, "/"), 0o755, Entrypoint),
		layer.Text(strings.TrimPrefix(configPath, "/"), 0o644, cfg.TOML()),
		layer.Text("etc/dagger/engine.json", 0o644, "{}\n"),
		layer.Dir(strings.TrimPrefix(stateDir, "/"), 0o755, 0, 0),
	})
	if err != nil {
		return nil, err
	}
	return layer.Image("amd64", v1.Config{
		Entrypoint: []string{entrypointPath},
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Volumes:    map[string]struct{}{stateDir: {}},
		Labels: map[string]string{
			"org.opencontainers.image.version": daggerbuild.Version,
			"org.opencontainers.image.title":   "Dagger engine built by Gantry's test bed",
		},
	},
		layer.Part{Layer: base, Why: "debootstrap --variant=minbase " + rootfs.Suite},
		layer.Part{Layer: bins, Why: "dagger " + daggerbuild.Version + " built from source"},
		layer.Part{Layer: conf, Why: "entrypoint and engine.toml"})
}

func writeBinsLayer(binDir, tmp, dest string) error {
	files := []layer.File{
		layer.HostFile(strings.TrimPrefix(engineBin, "/"), 0o755, filepath.Join(binDir, "engine")),
		layer.HostFile("usr/local/bin/dagger", 0o755, filepath.Join(binDir, "dagger")),
		layer.HostFile("usr/local/bin/dagger-init", 0o755, filepath.Join(binDir, "init")),
		layer.HostFile("usr/bin/dial-stdio", 0o755, filepath.Join(binDir, "dialstdio")),
		layer.Symlink("usr/bin/buildctl", "dial-stdio"),
		layer.HostFile("opt/cni/bin/dnsname", 0o755, filepath.Join(binDir, "dnsname")),
	}
	f, err := os.CreateTemp(filepath.Dir(dest), "bins-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := layer.WriteTar(f, files); err != nil {
		return err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	if err := layer.FromTar(f, tmp); err != nil {
		return err
	}
	return os.Rename(tmp+".json", dest+".json")
}

// Load loads img into Docker as Image.
func Load(ctx context.Context, s *step.Step, img v1.Image) (bool, error) {
	return dockercli.EnsureLoaded(ctx, s, Image, img)
}

// Run makes the bed's engine container run img with the current flags: it
// keeps a running container created from the same image and flags, starts
// a stopped one, and replaces any other.
func Run(ctx context.Context, s *step.Step, img v1.Image) error {
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	key := cache.Key(append(Bed.RunArgs(id.String(), ""), Entrypoint)...)
	have := dockercli.Inspect(ctx, Container, `{{index .Config.Labels "`+KeyLabel+`"}} {{.State.Running}}`)
	switch have {
	case key + " true":
		return step.Skip("%s runs %s", Container, Image)
	case key + " false":
		s.Doing("starting the stopped container %s", Container)
		if err := s.Run(ctx, "docker", "start", Container); err != nil {
			return err
		}
		return Bed.waitRunning(ctx, s)
	case "":
	default:
		s.Doing("replacing container %s (engine or flags changed)", Container)
		if err := s.Run(ctx, "docker", "rm", "-f", Container); err != nil {
			return err
		}
	}
	if dockercli.Inspect(ctx, Container, "{{.Id}}") != "" {
		if err := s.Run(ctx, "docker", "rm", "-f", Container); err != nil {
			return err
		}
	}
	return Bed.Start(ctx, s, id.String(), key)
}

func (in Instance) waitRunning(ctx context.Context, s *step.Step) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if dockercli.Inspect(ctx, in.Container, "{{.State.Running}}") == "true" {
			// The engine listens on its socket shortly after start.
			out, err := s.Command(ctx, "docker", "exec", in.Container, "test", "-S", "/run/dagger/engine.sock").CombinedOutput()
			if err == nil {
				if in.TCPAddr == "" {
					return nil
				}
				if err = dialTCP(in.TCPAddr); err == nil {
					return nil
				}
				out = []byte("(" + in.TCPAddr + ")")
			}
			s.Logf("waiting for the engine socket: %v %s", err, out)
		} else if st := dockercli.Inspect(ctx, in.Container, "{{.State.Status}}"); st == "exited" || st == "dead" {
			logs, _ := s.Command(ctx, "docker", "logs", "--tail", "50", in.Container).CombinedOutput()
			s.Logf("engine container logs:\n%s", logs)
			return fmt.Errorf("engine container %s", st)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	logs, _ := s.Command(ctx, "docker", "logs", "--tail", "50", in.Container).CombinedOutput()
	s.Logf("engine container logs:\n%s", logs)
	return fmt.Errorf("engine socket did not appear within 60s")
}

// dialTCP checks that an engine's TCP address accepts connections.
func dialTCP(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// TCPStatus says whether the engine answers on TCPAddr, for `status`.
func TCPStatus() error { return dialTCP(TCPAddr) }
