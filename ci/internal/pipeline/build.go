package pipeline

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"dagger.io/dagger"
)

// build runs the Dockerfile once per platform. The Dockerfile cross-compiles
// (FROM --platform=$BUILDPLATFORM), so no platform needs emulation.
func build(ctx context.Context, r *Run) error {
	native, err := r.Client.DefaultPlatform(ctx)
	if err != nil {
		return failWith(ExitInternal, fmt.Errorf("asking the engine for its platform: %w", err))
	}
	r.Native = string(native)
	if !slices.Contains(r.Opts.Platforms, r.Native) {
		return fmt.Errorf("--platform %v does not include the engine's platform %s, which the smoke stage runs", r.Opts.Platforms, r.Native)
	}
	args := []dagger.BuildArg{
		{Name: "GO_IMAGE", Value: r.Images.Go},
		{Name: "RUNTIME_IMAGE", Value: r.Images.Runtime},
		{Name: "VERSION", Value: r.Plan.Version},
		{Name: "COMMIT", Value: r.SHA},
	}
	keys := make([]string, 0, len(r.Labels))
	for k := range r.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	r.Built = map[string]*dagger.Container{}
	for _, p := range r.Opts.Platforms {
		ctr := r.Context.DockerBuild(dagger.DirectoryDockerBuildOpts{Platform: dagger.Platform(p), BuildArgs: args})
		for _, k := range keys {
			ctr = ctr.WithLabel(k, r.Labels[k])
		}
		if ctr, err = ctr.Sync(ctx); err != nil {
			return fmt.Errorf("building %s: %w", p, err)
		}
		r.Built[p] = ctr
	}
	return nil
}
