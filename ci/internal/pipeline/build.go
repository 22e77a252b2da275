package pipeline

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"dagger.io/dagger"
	"golang.org/x/sync/errgroup"

	"github.com/gantry-ci/gantry/ci/internal/graph"
)

// BuildInput is what the build stage takes.
type BuildInput struct {
	Context    *dagger.Directory // the build context, .dockerignore applied
	Dockerfile string            // its path in the context
	Target     string            // the stage to build; "" for the last
	Secrets    []*dagger.Secret  // mounted by name at /run/secrets/NAME
	Args       []dagger.BuildArg
	Labels     map[string]string
	Platforms  []string
}

// Built is the build stage's result.
type Built struct {
	Images map[string]*dagger.Container // by platform, evaluated
	Engine string                       // the engine's platform, which smoke runs
}

// Native is the image the engine can run.
func (b Built) Native() *dagger.Container { return b.Images[b.Engine] }

// Build runs the Dockerfile for every platform at once. The Dockerfile
// cross-compiles (FROM --platform=$BUILDPLATFORM), so no platform needs
// emulation, and the platforms share the steps that don't depend on the
// target (module download).
func Build(ctx context.Context, env Env, in BuildInput) (Built, error) {
	native, err := env.Client.DefaultPlatform(ctx)
	if err != nil {
		return Built{}, graph.WithCode(ExitInternal, fmt.Errorf("asking the engine for its platform: %w", err))
	}
	if !slices.Contains(in.Platforms, string(native)) {
		return Built{}, fmt.Errorf("--platform %v does not include the engine's platform %s, which the smoke stage runs", in.Platforms, native)
	}
	keys := make([]string, 0, len(in.Labels))
	for k := range in.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	built := make([]*dagger.Container, len(in.Platforms))
	eg, ctx := errgroup.WithContext(ctx)
	for i, p := range in.Platforms {
		eg.Go(func() error {
			ctr := in.Context.DockerBuild(dagger.DirectoryDockerBuildOpts{Dockerfile: in.Dockerfile, Target: in.Target, Platform: dagger.Platform(p), BuildArgs: in.Args, Secrets: in.Secrets})
			for _, k := range keys {
				ctr = ctr.WithLabel(k, in.Labels[k])
			}
			ctr, err := ctr.Sync(ctx)
			if err != nil {
				return fmt.Errorf("building %s: %w", p, err)
			}
			built[i] = ctr
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return Built{}, err
	}
	out := Built{Images: map[string]*dagger.Container{}, Engine: string(native)}
	for i, p := range in.Platforms {
		out.Images[p] = built[i]
	}
	return out, nil
}
