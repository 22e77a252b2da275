// Package dockerd makes sure a Docker engine answers: it installs Debian's
// docker.io when missing and starts dockerd as a background process when no
// daemon runs, leaving an already running daemon alone.
package dockerd

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/testbed/internal/bgproc"
	"github.com/gantry-ci/gantry/testbed/internal/state"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// Bridge is the address of docker0, the host as seen from containers on the
// default bridge network.
const Bridge = "172.17.0.1"

// PIDName names dockerd's PID file in the state dir.
const PIDName = "dockerd"

// StartTimeout bounds the wait for a started daemon to answer.
const StartTimeout = 90 * time.Second

// Args are dockerd's arguments: the bed's registries are plain HTTP
// (the /32 also covers the test registries on ports 5002-5009).
func Args(insecure []string) []string {
	args := []string{"dockerd"}
	for _, r := range insecure {
		args = append(args, "--insecure-registry", r)
	}
	return args
}

// Version returns the server version when a daemon answers.
func Version(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker version: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// Install installs docker.io with apt when dockerd or the docker CLI is
// missing.
func Install(ctx context.Context, s *step.Step) error {
	_, errD := exec.LookPath("dockerd")
	_, errC := exec.LookPath("docker")
	if errD == nil && errC == nil {
		return nil
	}
	return AptInstall(ctx, s, "docker.io")
}

// AptInstall installs Debian packages, updating the package lists first.
func AptInstall(ctx context.Context, s *step.Step, pkgs ...string) error {
	s.Doing("apt-get install %s", strings.Join(pkgs, " "))
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	update := s.Command(ctx, "apt-get", "update")
	update.Env = env
	if err := s.Exec(update); err != nil {
		return err
	}
	install := s.Command(ctx, "apt-get", append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)...)
	install.Env = env
	return s.Exec(install)
}

// Ensure makes a daemon answer. It returns whether this call started it.
func Ensure(ctx context.Context, s *step.Step, st state.Dir, logPath string, insecure []string) (bool, error) {
	if err := Install(ctx, s); err != nil {
		return false, err
	}
	if v, err := Version(ctx); err == nil {
		owner := "not started by the bed, left alone"
		if rec, ok, _ := bgproc.Read(st.PIDFile(PIDName)); ok && rec.Alive() {
			owner = fmt.Sprintf("started by the bed, pid %d", rec.PID)
		}
		for _, r := range insecure {
			if strings.Contains(r, ":") && !TreatsAsInsecure(ctx, r) {
				s.Doing("WARNING: this dockerd does not treat %s as plain HTTP: `docker pull/push` "+
					"of the bed's images will fail (loaded images, builds and compose still work); "+
					"restart it with --insecure-registry %s", r, r)
				break
			}
		}
		return false, step.Skip("dockerd %s answers (%s)", v, owner)
	}
	s.Doing("starting dockerd (log %s)", logPath)
	rec, err := bgproc.Start(Args(insecure), os.Environ(), logPath, st.PIDFile(PIDName))
	if err != nil {
		return false, err
	}
	deadline := time.Now().Add(StartTimeout)
	for {
		if _, err := Version(ctx); err == nil {
			break
		}
		if !rec.Alive() {
			return true, fmt.Errorf("dockerd exited during start-up; see %s", logPath)
		}
		if time.Now().After(deadline) {
			return true, fmt.Errorf("dockerd did not answer within %s; see %s", StartTimeout, logPath)
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	// docker0 gets its address a moment after the API answers.
	for i := 0; i < 40 && !HasAddr(Bridge); i++ {
		time.Sleep(250 * time.Millisecond)
	}
	if !HasAddr(Bridge) {
		return true, fmt.Errorf("dockerd runs but %s (docker0) has not appeared", Bridge)
	}
	return true, nil
}

// TreatsAsInsecure reports whether the running daemon speaks plain HTTP to
// the registry host:port.
func TreatsAsInsecure(ctx context.Context, hostPort string) bool {
	out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{json .RegistryConfig}}").Output()
	if err != nil {
		return false
	}
	var cfg struct {
		InsecureRegistryCIDRs []string
		IndexConfigs          map[string]struct{ Secure bool }
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		return false
	}
	if ic, ok := cfg.IndexConfigs[hostPort]; ok && !ic.Secure {
		return true
	}
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	for _, c := range cfg.InsecureRegistryCIDRs {
		if _, n, err := net.ParseCIDR(c); err == nil && ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// HasAddr reports whether a local interface has the IPv4 address ip.
func HasAddr(ip string) bool {
	out, err := exec.Command("ip", "-4", "-o", "addr", "show").Output()
	if err != nil {
		return false
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, ip+"/") {
			return true
		}
	}
	return false
}

// Stop stops dockerd if the bed started it, and reports whether it did.
func Stop(ctx context.Context, st state.Dir) (bool, error) {
	rec, ok, err := bgproc.Read(st.PIDFile(PIDName))
	if err != nil || !ok {
		return false, err
	}
	if err := rec.Stop(ctx, 60*time.Second); err != nil {
		return true, fmt.Errorf("stopping dockerd: %w", err)
	}
	return true, nil
}
