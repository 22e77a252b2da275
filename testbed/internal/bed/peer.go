package bed

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/gantry-ci/gantry/testbed/internal/buildkit"
	"github.com/gantry-ci/gantry/testbed/internal/dockercli"
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/rootfs"
	"github.com/gantry-ci/gantry/testbed/internal/state"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// PeerEnv is what bench/peer.sh runs the peer stack with.
type PeerEnv struct {
	// Buildx is the docker-buildx plugin binary.
	Buildx string
	// BuildkitImage is BuildKit's image in the local Docker engine.
	BuildkitImage string
}

// Render returns the export lines.
func (e PeerEnv) Render() string {
	var b strings.Builder
	for _, v := range [][2]string{{"TESTBED_BUILDX", e.Buildx}, {"TESTBED_BUILDKIT_IMAGE", e.BuildkitImage}} {
		fmt.Fprintf(&b, "export %s=%s\n", v[0], state.ShellQuote(v[1]))
	}
	return b.String()
}

// Peer builds, on a bed that is up, the peer stack of bench/peer.sh:
// buildx, and BuildKit's image loaded into Docker. Everything is cached by
// version; nothing else of the bed changes.
func (b *Bed) Peer(ctx context.Context) (PeerEnv, error) {
	if _, err := b.Env(ctx); err != nil {
		return PeerEnv{}, fmt.Errorf("the test bed is not up (%v): run `go run ./testbed up` first", err)
	}
	unlock, err := b.lock(ctx)
	if err != nil {
		return PeerEnv{}, err
	}
	defer unlock()

	var (
		env                           PeerEnv
		daemonDir, buildxDir, fsLayer string
	)
	var p plan
	// One compile at a time (two cores).
	daemon := p.add("build-buildkit", func(ctx context.Context, s *step.Step) error {
		var err error
		daemonDir, err = modbuild.Build(ctx, s, b.cache, buildkit.DaemonSpec())
		return err
	})
	p.add("build-buildx", func(ctx context.Context, s *step.Step) error {
		var err error
		buildxDir, err = modbuild.Build(ctx, s, b.cache, buildkit.BuildxSpec())
		env.Buildx = buildkit.Buildx(buildxDir)
		return err
	}, daemon)
	fs := p.add("rootfs-buildkit", func(ctx context.Context, s *step.Step) error {
		var err error
		fsLayer, err = rootfs.Build(ctx, s, b.cache, buildkit.RootFS)
		return err
	})
	p.add("buildkit-image", func(ctx context.Context, s *step.Step) error {
		img, err := buildkit.Assemble(fsLayer, daemonDir, insecureRegistries())
		if err != nil {
			return err
		}
		env.BuildkitImage = buildkit.Image
		loaded, err := dockercli.EnsureLoaded(ctx, s, buildkit.Image, img)
		if err == nil && !loaded {
			return step.Skip("%s loaded", buildkit.Image)
		}
		return err
	}, daemon, fs)
	if err := p.execute(ctx, b.run); err != nil {
		return PeerEnv{}, err
	}
	if _, err := os.Stat(env.Buildx); err != nil {
		return PeerEnv{}, fmt.Errorf("buildx missing after its build: %v", err)
	}
	return env, nil
}
