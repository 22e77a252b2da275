package bed

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/gantry-ci/gantry/testbed/internal/bgproc"
	"github.com/gantry-ci/gantry/testbed/internal/compose"
	"github.com/gantry-ci/gantry/testbed/internal/cosign"
	"github.com/gantry-ci/gantry/testbed/internal/dockercli"
	"github.com/gantry-ci/gantry/testbed/internal/dockerd"
	"github.com/gantry-ci/gantry/testbed/internal/engine"
	"github.com/gantry-ci/gantry/testbed/internal/fulcio"
	"github.com/gantry-ci/gantry/testbed/internal/ghcli"
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/policytester"
	"github.com/gantry-ci/gantry/testbed/internal/registry"
	"github.com/gantry-ci/gantry/testbed/internal/rekor"
	"github.com/gantry-ci/gantry/testbed/internal/state"
)

// Status writes what is up, versions and cache sizes to w. It reports
// whether the bed is fully up.
func (b *Bed) Status(ctx context.Context, w io.Writer) bool {
	up := true
	line := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%-12s %s\n", name, fmt.Sprintf(format, args...))
	}
	proc := func(name string) string {
		rec, ok, err := bgproc.Read(b.state.PIDFile(name))
		switch {
		case err != nil:
			return "pid file unreadable: " + err.Error()
		case !ok:
			return "not started by the bed"
		case rec.Alive():
			return fmt.Sprintf("started by the bed, pid %d", rec.PID)
		default:
			return fmt.Sprintf("started by the bed, pid %d gone", rec.PID)
		}
	}

	if v, err := dockerd.Version(ctx); err == nil {
		line("dockerd", "%s, %s", v, proc(dockerd.PIDName))
	} else {
		line("dockerd", "DOWN (%v)", err)
		up = false
	}

	env, envErr := b.state.ReadEnv()
	for _, r := range []registry.Registry{
		{Name: "registry-5000", Addr: Registry},
		{Name: "registry-5001", Addr: AuthRegistry, User: AuthUsername},
	} {
		if err := r.Ready(ctx); err == nil {
			auth := "no auth"
			if r.User != "" {
				auth = "basic auth, user " + r.User
			}
			line("registry", "%s answers (%s), %s", r.Addr, auth, proc(r.Name))
		} else {
			line("registry", "%s DOWN (%v)", r.Addr, err)
			up = false
		}
	}

	if st := dockercli.Inspect(ctx, engine.Container, "{{.State.Status}} since {{.State.StartedAt}}"); st != "" {
		line("engine", "%s %s, image %s", engine.Container, st, engine.Image)
		if !strings.HasPrefix(st, "running") {
			up = false
		}
		if err := engine.TCPStatus(); err == nil {
			line("engine tcp", "%s answers (loopback only, unauthenticated)", engine.RunnerHostTCP)
		} else {
			line("engine tcp", "%s DOWN (%v)", engine.RunnerHostTCP, err)
			up = false
		}
	} else {
		line("engine", "container %s absent", engine.Container)
		up = false
	}
	if envErr == nil {
		out, err := exec.CommandContext(ctx, env.CLIBin, "version").CombinedOutput()
		if err == nil {
			line("dagger CLI", "%s (%s)", strings.TrimSpace(string(out)), env.CLIBin)
		} else {
			line("dagger CLI", "%s: %v", env.CLIBin, err)
		}
	}
	if v := compose.InstalledVersion(ctx); v != "" {
		line("compose", "docker compose %s (%s)", v, compose.PluginPath)
	} else {
		line("compose", "not installed")
	}
	if envErr == nil {
		if _, err := os.Stat(env.CosignBin); err == nil {
			line("cosign", "Debian's %s package (%s)", cosign.Package, env.CosignBin)
		} else {
			line("cosign", "%v", err)
		}
		if v, err := modbuild.GitVersion(ctx, env.Cosign3Bin); err == nil {
			line("cosign v3", "%s (%s)", v, env.Cosign3Bin)
		} else {
			line("cosign v3", "%s: %v", env.Cosign3Bin, err)
		}
		if _, err := os.Stat(env.GHBin); err == nil {
			line("gh", "%s (%s)", ghcli.Version, env.GHBin)
		} else {
			line("gh", "%v", err)
		}
		if _, err := os.Stat(env.PolicyTester); err == nil {
			line("policy-tester", "%s (%s)", policytester.Version, env.PolicyTester)
		} else {
			line("policy-tester", "%v", err)
		}
		if v, err := fulcio.BinVersion(ctx, env.FulcioBin); err == nil {
			line("fulcio", "%s (%s)", v, env.FulcioBin)
		} else {
			line("fulcio", "%s: %v", env.FulcioBin, err)
		}
		if v, err := modbuild.GitVersion(ctx, env.RekorBin); err == nil {
			line("rekor", "%s (%s; trillian %s in %s)", v, env.RekorBin, rekor.TrillianVersion, env.TrillianDir)
		} else {
			line("rekor", "%s: %v", env.RekorBin, err)
		}
	}

	if set, err := state.ReadImages(b.state.ImagesFile()); err == nil && envErr == nil {
		for _, ref := range []struct{ name, ref string }{
			{"go", set.Go}, {"runtime", set.Runtime}, {"postgres", set.Postgres},
			{"trivy", set.Trivy}, {"probe", set.Probe}, {"trivy-db", set.TrivyDBRepository},
		} {
			line("image", "%-9s %s", ref.name, ref.ref)
		}
	} else {
		line("images", "no image set (%v)", err)
		up = false
	}
	if envErr == nil {
		line("env file", "%s", b.state.EnvFile())
	} else {
		line("env file", "none (%v)", envErr)
		up = false
	}
	for _, l := range b.cacheSummary() {
		line("cache", "%s", l)
	}
	if _, err := os.Stat(ReportPath(string(b.cache))); err == nil && !up {
		line("last down", "%s", ReportPath(string(b.cache)))
	}
	if up {
		fmt.Fprintln(w, "test bed is UP")
	} else {
		fmt.Fprintln(w, "test bed is NOT fully up")
	}
	return up
}
