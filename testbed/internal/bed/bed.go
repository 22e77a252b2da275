// Package bed brings Gantry's offline test bed up and down: a Docker engine,
// two local registries, a Dagger engine built from source, stand-in images,
// a Trivy DB, Compose, cosign and Fulcio. `up` reads top to bottom in Up as a plan
// of steps and what each needs first.
package bed

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/v1"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/compose"
	"github.com/gantry-ci/gantry/testbed/internal/cosign"
	"github.com/gantry-ci/gantry/testbed/internal/daggerbuild"
	"github.com/gantry-ci/gantry/testbed/internal/debian"
	"github.com/gantry-ci/gantry/testbed/internal/dockercli"
	"github.com/gantry-ci/gantry/testbed/internal/dockerd"
	"github.com/gantry-ci/gantry/testbed/internal/engine"
	"github.com/gantry-ci/gantry/testbed/internal/fulcio"
	"github.com/gantry-ci/gantry/testbed/internal/ghcli"
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/policytester"
	"github.com/gantry-ci/gantry/testbed/internal/registry"
	"github.com/gantry-ci/gantry/testbed/internal/rekor"
	"github.com/gantry-ci/gantry/testbed/internal/rootfs"
	"github.com/gantry-ci/gantry/testbed/internal/standin"
	"github.com/gantry-ci/gantry/testbed/internal/state"
	"github.com/gantry-ci/gantry/testbed/internal/step"
	"github.com/gantry-ci/gantry/testbed/internal/trivydb"
)

// Addresses of the bed's registries, on docker0 so that both the host and
// containers on the default bridge (the Dagger engine) reach them.
var (
	Registry     = dockerd.Bridge + ":5000"
	AuthRegistry = dockerd.Bridge + ":5001"
)

// AuthUsername is the auth registry's user.
const AuthUsername = "gantry"

// Bed is the test bed rooted in one cache directory.
type Bed struct {
	cache cache.Dir
	state state.Dir
	out   io.Writer
	run   *step.Runner
}

// New returns the bed whose cache is dir; progress goes to out.
func New(dir string, out io.Writer) *Bed {
	c := cache.Dir(dir)
	return &Bed{cache: c, state: state.Dir(c.State()), out: out, run: step.New(out, c.Logs())}
}

// EnvFile is where `up` writes the export lines.
func (b *Bed) EnvFile() string { return b.state.EnvFile() }

// hostPackages maps commands the bed runs on the host to the Debian
// packages providing them.
var hostPackages = []struct{ path, pkg string }{
	{"dockerd", "docker.io"},
	{"docker", "docker.io"},
	{"docker-registry", "docker-registry"},
	{"htpasswd", "apache2-utils"},
	{"debootstrap", "debootstrap"},
	{"ip", "iproute2"},
	{"dpkg-deb", "dpkg"},
}

// missingPackages lists the packages to install for missing commands.
func missingPackages() []string {
	seen := map[string]bool{}
	var pkgs []string
	for _, hp := range hostPackages {
		if _, err := exec.LookPath(hp.path); err == nil || seen[hp.pkg] {
			continue
		}
		seen[hp.pkg] = true
		pkgs = append(pkgs, hp.pkg)
	}
	return pkgs
}

// insecureRegistries are the plain-HTTP registries of the bed: the ones it
// runs and the test registries on ports 5002-5009.
func insecureRegistries() []string { return engine.BedRegistries(dockerd.Bridge) }

// Up brings the bed up (idempotent) and returns the environment that points
// the pipeline at it, also written to EnvFile.
func (b *Bed) Up(ctx context.Context) (state.Env, error) {
	start := time.Now()
	unlock, err := b.lock(ctx)
	if err != nil {
		return state.Env{}, err
	}
	defer unlock()
	if err := b.state.Init(); err != nil {
		return state.Env{}, err
	}
	password, err := b.state.Password()
	if err != nil {
		return state.Env{}, err
	}
	regs := []registry.Registry{
		{Name: "registry-5000", Addr: Registry},
		{Name: "registry-5001", Addr: AuthRegistry, User: AuthUsername, Password: password},
	}

	// Values the steps hand to each other. Each is written by one step
	// and read only by steps that need it (after it is done).
	var (
		daggerBin, composeBin, trivyBin, cosignBin string
		cosign3Bin, ghBin, policyTesterBin         string
		composeVersion                             string
		fulcioBin, rekorBin, trillianDir           string
		engineLayer, golangLayer, postgresLayer    string
		nodeLayer, nodeImage                       string
		engineImage                                v1.Image
		staticLayer                                v1.Layer
		set                                        = state.Images{
			TrivyDBRepository:  Registry + "/" + standin.Repo + "trivy-db:" + trivydb.Tag,
			InsecureRegistries: []string{Registry, AuthRegistry},
		}
		goTag string
	)

	var p plan
	// Host packages: docker.io, docker-registry, apache2-utils (htpasswd),
	// debootstrap, from apt when missing.
	host := p.add("host-packages", func(ctx context.Context, s *step.Step) error {
		pkgs := missingPackages()
		if len(pkgs) == 0 {
			return step.Skip("all host packages present")
		}
		return dockerd.AptInstall(ctx, s, pkgs...)
	})
	// A Docker engine: the running one, or dockerd started in the background.
	docker := p.add("dockerd", func(ctx context.Context, s *step.Step) error {
		_, err := dockerd.Ensure(ctx, s, b.state, b.run.LogPath("dockerd-daemon"), append(insecureRegistries(), dockerd.Bridge+"/32"))
		return err
	}, host)
	// The registries (on docker0, which exists once dockerd runs).
	regTasks := []*task{}
	for _, r := range regs {
		regTasks = append(regTasks, p.add(r.Name, func(ctx context.Context, s *step.Step) error {
			return r.Ensure(ctx, s, b.state, b.run.LogPath(r.Name+"-daemon"))
		}, docker))
	}
	registries := p.add("registries", func(ctx context.Context, s *step.Step) error {
		return step.Skip("%s (open), %s (basic auth, user %s)", Registry, AuthRegistry, AuthUsername)
	}, regTasks...)

	// Go builds, one after the other (two cores): Dagger, Trivy, Fulcio,
	// Trillian, Rekor, cosign v3, gh, policy-tester. Compose and cosign v2
	// come prebuilt from Debian, alongside them.
	buildDagger := p.add("build-dagger", func(ctx context.Context, s *step.Step) error {
		var err error
		daggerBin, err = daggerbuild.Build(ctx, s, b.cache)
		return err
	})
	// The builds' module downloads, one after the other (network-bound),
	// while Dagger compiles: on a fresh machine they were a good part of
	// each build's time.
	var prefetched *task
	for _, sp := range []modbuild.Spec{standin.TrivySpec(), fulcio.Spec(), rekor.TrillianSpec(), rekor.Spec(), cosign.V3Spec(), ghcli.Spec(), policytester.Spec()} {
		needs := []*task{host}
		if prefetched != nil {
			needs = []*task{prefetched}
		}
		prefetched = p.add("prefetch-"+sp.Name, func(ctx context.Context, s *step.Step) error {
			return modbuild.Prefetch(ctx, s, b.cache, sp)
		}, needs...)
	}
	buildTrivy := p.add("build-trivy", func(ctx context.Context, s *step.Step) error {
		var err error
		trivyBin, err = standin.BuildTrivy(ctx, s, b.cache)
		return err
	}, buildDagger)
	fetchCompose := p.add("fetch-compose", func(ctx context.Context, s *step.Step) error {
		var err error
		composeBin, composeVersion, err = compose.Fetch(ctx, s, b.cache)
		return err
	}, host)
	p.add("fetch-cosign", func(ctx context.Context, s *step.Step) error {
		var err error
		cosignBin, _, err = cosign.Fetch(ctx, s, b.cache)
		return err
	}, host)
	buildFulcio := p.add("build-fulcio", func(ctx context.Context, s *step.Step) error {
		var err error
		fulcioBin, err = fulcio.Build(ctx, s, b.cache)
		return err
	}, buildTrivy)
	buildTrillian := p.add("build-trillian", func(ctx context.Context, s *step.Step) error {
		var err error
		trillianDir, err = rekor.BuildTrillian(ctx, s, b.cache)
		return err
	}, buildFulcio)
	buildRekor := p.add("build-rekor", func(ctx context.Context, s *step.Step) error {
		var err error
		rekorBin, err = rekor.Build(ctx, s, b.cache)
		return err
	}, buildTrillian)
	buildCosign3 := p.add("build-cosign3", func(ctx context.Context, s *step.Step) error {
		var err error
		cosign3Bin, err = cosign.BuildV3(ctx, s, b.cache)
		return err
	}, buildRekor)
	buildGH := p.add("build-gh", func(ctx context.Context, s *step.Step) error {
		var err error
		ghBin, err = ghcli.Build(ctx, s, b.cache)
		return err
	}, buildCosign3)
	p.add("build-policy-tester", func(ctx context.Context, s *step.Step) error {
		var err error
		policyTesterBin, err = policytester.Build(ctx, s, b.cache)
		return err
	}, buildGH)

	// Debian root file systems, one after the other (network-bound),
	// alongside the Go builds.
	rootfsEngine := p.add("rootfs-engine", func(ctx context.Context, s *step.Step) error {
		var err error
		engineLayer, err = rootfs.Build(ctx, s, b.cache, engine.RootFS)
		return err
	}, host)
	rootfsGolang := p.add("rootfs-golang", func(ctx context.Context, s *step.Step) error {
		var err error
		golangLayer, err = rootfs.Build(ctx, s, b.cache, standin.GolangRootFS)
		return err
	}, rootfsEngine)
	rootfsPostgres := p.add("rootfs-postgres", func(ctx context.Context, s *step.Step) error {
		var err error
		postgresLayer, err = rootfs.Build(ctx, s, b.cache, standin.PostgresRootFS)
		return err
	}, rootfsGolang)
	rootfsNode := p.add("rootfs-node", func(ctx context.Context, s *step.Step) error {
		var err error
		nodeLayer, err = rootfs.Build(ctx, s, b.cache, standin.NodeRootFS)
		return err
	}, rootfsPostgres)

	// The engine image, loaded into Docker, and its container.
	engineImg := p.add("engine-image", func(ctx context.Context, s *step.Step) error {
		var err error
		engineImage, err = engine.Assemble(ctx, s, b.cache, engineLayer, daggerBin,
			engine.Config{Insecure: insecureRegistries()})
		if err != nil {
			return err
		}
		loaded, err := engine.Load(ctx, s, engineImage)
		if err == nil && !loaded {
			return step.Skip("%s loaded", engine.Image)
		}
		return err
	}, buildDagger, rootfsEngine, docker)
	engineRun := p.add("engine-container", func(ctx context.Context, s *step.Step) error {
		return engine.Run(ctx, s, engineImage)
	}, engineImg)

	// Stand-in images, pushed to the registry (and some loaded into Docker).
	probe := p.add("image-busybox", func(ctx context.Context, s *step.Step) error {
		deb, v, err := debian.Fetch(ctx, s, b.cache, standin.BusyboxSuite, standin.BusyboxPackage)
		if err != nil {
			return err
		}
		img, err := standin.Busybox(ctx, b.cache, deb, v)
		if err != nil {
			return err
		}
		set.Probe, err = publish(ctx, s, Registry+"/"+standin.BusyboxRef(v), img, nil)
		return err
	}, registries)
	p.add("image-golang", func(ctx context.Context, s *step.Step) error {
		img, ref, err := standin.Golang(ctx, s, b.cache, golangLayer, standin.GoRoot)
		if err != nil {
			return err
		}
		goTag = Registry + "/" + ref
		set.Go, err = publish(ctx, s, goTag, img, img)
		return err
	}, rootfsGolang, registries)
	static := p.add("image-static", func(ctx context.Context, s *step.Step) error {
		var err error
		if staticLayer, err = standin.StaticLayer(b.cache, golangLayer); err != nil {
			return err
		}
		idx, amd64, err := standin.Static(staticLayer)
		if err != nil {
			return err
		}
		set.Runtime, err = publish(ctx, s, Registry+"/"+standin.StaticRef, idx, amd64)
		return err
	}, rootfsGolang, registries)
	p.add("image-postgres", func(ctx context.Context, s *step.Step) error {
		img, err := standin.Postgres(postgresLayer)
		if err != nil {
			return err
		}
		set.Postgres, err = publish(ctx, s, Registry+"/"+standin.PostgresRef, img, img)
		return err
	}, rootfsPostgres, registries)
	p.add("image-node", func(ctx context.Context, s *step.Step) error {
		img, err := standin.Node(nodeLayer)
		if err != nil {
			return err
		}
		nodeImage, err = publish(ctx, s, Registry+"/"+standin.NodeRef, img, nil)
		return err
	}, rootfsNode, registries)
	p.add("image-trivy", func(ctx context.Context, s *step.Step) error {
		img, err := standin.Trivy(b.cache, staticLayer, trivyBin)
		if err != nil {
			return err
		}
		set.Trivy, err = publish(ctx, s, Registry+"/"+standin.TrivyRef, img, nil)
		return err
	}, buildTrivy, static)
	// The Trivy DB artifact.
	p.add("trivy-db", func(ctx context.Context, s *step.Step) error {
		s.Doing("generating the DB (%d advisories) and pushing %s", len(trivydb.Advisories), set.TrivyDBRepository)
		tgz, err := trivydb.Build(b.cache, trivydb.Advisories, trivydb.Day(time.Now()))
		if err != nil {
			return err
		}
		art, err := trivydb.Artifact(tgz)
		if err != nil {
			return err
		}
		_, err = publish(ctx, s, set.TrivyDBRepository, art, nil)
		return err
	}, registries)
	// docker compose.
	p.add("compose-plugin", func(ctx context.Context, s *step.Step) error {
		return compose.Install(ctx, s, composeBin, composeVersion)
	}, fetchCompose, docker)
	// Proof: the SDK connects through the CLI and runs the probe.
	p.add("engine-verify", func(ctx context.Context, s *step.Step) error {
		s.Doing("dagger.Connect and a command in %s", set.Probe)
		return engine.Verify(ctx, s.Log(), daggerbuild.CLI(daggerBin), set.Probe)
	}, engineRun, probe)

	if err := p.execute(ctx, b.run); err != nil {
		return state.Env{}, err
	}

	if err := b.state.WriteImages(set); err != nil {
		return state.Env{}, fmt.Errorf("writing image set: %w", err)
	}
	env := state.Env{
		CLIBin:        daggerbuild.CLI(daggerBin),
		RunnerHost:    engine.RunnerHost,
		Images:        b.state.ImagesFile(),
		Registry:      Registry,
		AuthRegistry:  AuthRegistry,
		AuthUsername:  AuthUsername,
		AuthPassword:  password,
		GoImage:       goTag,
		RuntimeImage:  standin.TagOf(set.Runtime),
		PostgresImage: standin.TagOf(set.Postgres),
		NodeImage:     nodeImage,
		CosignBin:     cosign.Bin(cosignBin),
		Cosign3Bin:    cosign.Bin(cosign3Bin),
		GHBin:         ghcli.Bin(ghBin),
		PolicyTester:  policytester.Bin(policyTesterBin),
		FulcioBin:     fulcio.Bin(fulcioBin),
		RekorBin:      rekor.Bin(rekorBin),
		TrillianDir:   trillianDir,
		EngineTCP:     engine.RunnerHostTCP,
	}
	if err := b.state.WriteEnv(env); err != nil {
		return state.Env{}, fmt.Errorf("writing env file: %w", err)
	}
	b.run.Printf("test bed up in %s", time.Since(start).Round(100*time.Millisecond))
	return env, nil
}

// publish pushes img to ref and, when local is set, loads local into Docker
// under ref. It returns ref pinned by digest, with a Skipped error when both
// were there already.
func publish(ctx context.Context, s *step.Step, ref string, img standin.Pushable, local v1.Image) (string, error) {
	pinned, pushed, err := standin.Push(ctx, s, ref, img)
	if err != nil {
		return "", err
	}
	loaded := false
	if local != nil {
		if loaded, err = dockercli.EnsureLoaded(ctx, s, ref, local); err != nil {
			return "", err
		}
	}
	if !pushed && !loaded {
		where := "in the registry"
		if local != nil {
			where += " and in Docker"
		}
		return pinned, step.Skip("%s %s", ref, where)
	}
	return pinned, nil
}

// Env returns the environment of a bed that is up, after checking that its
// engine container runs and its registries answer.
func (b *Bed) Env(ctx context.Context) (state.Env, error) {
	env, err := b.state.ReadEnv()
	if err != nil {
		return state.Env{}, fmt.Errorf("no env file (%v)", err)
	}
	if _, err := os.Stat(env.CLIBin); err != nil {
		return state.Env{}, fmt.Errorf("dagger CLI missing: %v", err)
	}
	if _, err := os.Stat(env.CosignBin); err != nil {
		return state.Env{}, fmt.Errorf("cosign missing: %v", err)
	}
	if _, err := os.Stat(env.Cosign3Bin); err != nil {
		return state.Env{}, fmt.Errorf("cosign v3 missing: %v", err)
	}
	if _, err := os.Stat(env.GHBin); err != nil {
		return state.Env{}, fmt.Errorf("gh missing: %v", err)
	}
	if _, err := os.Stat(env.PolicyTester); err != nil {
		return state.Env{}, fmt.Errorf("policy-tester missing: %v", err)
	}
	if _, err := os.Stat(env.FulcioBin); err != nil {
		return state.Env{}, fmt.Errorf("fulcio missing: %v", err)
	}
	if _, err := os.Stat(env.RekorBin); err != nil {
		return state.Env{}, fmt.Errorf("rekor-server missing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(env.TrillianDir, rekor.Schema)); err != nil {
		return state.Env{}, fmt.Errorf("trillian missing: %v", err)
	}
	if _, err := os.Stat(env.Images); err != nil {
		return state.Env{}, fmt.Errorf("image set missing: %v", err)
	}
	if _, err := dockerd.Version(ctx); err != nil {
		return state.Env{}, fmt.Errorf("no Docker engine answers: %v", err)
	}
	if st := dockercli.Inspect(ctx, engine.Container, "{{.State.Running}}"); st != "true" {
		return state.Env{}, fmt.Errorf("engine container %s is not running", engine.Container)
	}
	for _, r := range []registry.Registry{{Addr: env.Registry}, {Addr: env.AuthRegistry, User: env.AuthUsername}} {
		if err := r.Ready(ctx); err != nil {
			return state.Env{}, fmt.Errorf("registry %s: %v", r.Addr, err)
		}
	}
	return env, nil
}

// DownReport is what `down` stopped and removed; it is kept in the cache
// (down.json) so a test can check that nothing survived.
type DownReport struct {
	Containers     []string `json:"containers"`
	Volumes        []string `json:"volumes"`
	Networks       []string `json:"networks"`
	Processes      []string `json:"processes"` // "NAME PID STARTTIME"
	StoppedDockerd bool     `json:"stopped_dockerd"`
	StateDir       string   `json:"state_dir"`
	Time           string   `json:"time"`
}

// ReportPath is where down writes its report.
func ReportPath(cacheDir string) string { return filepath.Join(cacheDir, "down.json") }

// processNames are the PID-file names of the processes the bed may start,
// in the order down stops them.
func (b *Bed) processNames() []string {
	return []string{"registry-5000", "registry-5001", dockerd.PIDName}
}

// StateDir is the bed's state directory.
func (b *Bed) StateDir() string { return string(b.state) }

// cacheSummary returns "name size" lines for the cache's parts.
func (b *Bed) cacheSummary() []string {
	var lines []string
	var total int64
	for _, d := range []string{"bin", "layers", "debs", "debs-trixie", "logs", "state", "work"} {
		n := cache.Size(b.cache.Path(d))
		total += n
		if n > 0 {
			lines = append(lines, fmt.Sprintf("%-11s %s", d, cache.HumanSize(n)))
		}
	}
	return append(lines, fmt.Sprintf("%-11s %s (%s)", "total", cache.HumanSize(total), b.cache))
}
