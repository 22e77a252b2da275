package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"dagger.io/dagger"

	"github.com/gantry-ci/gantry/ci/internal/push"
)

func skipPublish(r *Run) string {
	switch {
	case r.Opts.DryRun:
		return "--dry-run"
	case r.Plan.Skip != "":
		return r.Plan.Skip
	}
	return ""
}

// publish pushes every platform's image as one index (or one image) with
// gantry-publish, run in a container so that the registry token reaches it
// only as a Dagger secret. It writes the manifest once, points each tag at
// it, puts the Dockerfile's healthcheck back (Dagger v0.19 drops it), retries
// transient registry errors and rolls tags back if one can't be written.
func publish(ctx context.Context, r *Run) error {
	repo := r.Opts.Registry + "/" + r.Opts.Image
	var first *dagger.Container
	var variants []*dagger.Container
	for _, p := range r.Opts.Platforms {
		if first == nil {
			first = r.Built[p]
		} else {
			variants = append(variants, r.Built[p])
		}
	}
	archive := first.AsTarball(dagger.ContainerAsTarballOpts{PlatformVariants: variants})

	args := []string{"gantry-publish", "--archive", "/in/image.tar", "--repository", repo,
		"--username", r.Opts.Username, "--tag", strings.Join(r.Plan.Tags, ",")}
	if r.Runtime.Healthcheck != nil {
		hc, err := json.Marshal(r.Runtime.Healthcheck)
		if err != nil {
			return err
		}
		args = append(args, "--healthcheck", string(hc))
	}
	if r.Images.Insecure(repo) {
		args = append(args, "--insecure")
	}
	ctr := r.Client.Container().From(r.Images.Go).
		WithFile("/usr/local/bin/gantry-publish", publisher(r)).
		WithMountedFile("/in/image.tar", archive).
		WithSecretVariable("GANTRY_REGISTRY_TOKEN", r.Client.SetSecret("gantry-registry-token", r.Token)).
		WithEnvVariable("GANTRY_PUBLISH", r.ID). // a publish is never cached
		WithExec(args, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return fmt.Errorf("running gantry-publish: %w", err)
	}
	stderr, _ := ctr.Stderr(ctx)
	if code != 0 {
		return fmt.Errorf("publishing %s:\n%s", repo, tail(stderr, 20))
	}
	out, err := ctr.Stdout(ctx)
	if err != nil {
		return err
	}
	var res push.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return fmt.Errorf("reading gantry-publish's result %q: %w", out, err)
	}
	r.Published = &res
	for _, ref := range res.Refs {
		fmt.Fprintln(r.Out, ref)
	}
	return nil
}

// publisher builds cmd/gantry-publish from the ci module in the pinned Go
// image; Dagger caches it until the module's source changes.
func publisher(r *Run) *dagger.File {
	return goContainer(r).
		WithDirectory("/src", r.Source.Directory("ci"), dagger.ContainerWithDirectoryOpts{Exclude: []string{"**/testdata"}}).
		WithWorkdir("/src").
		WithEnvVariable("CGO_ENABLED", "0").
		WithEnvVariable("GOWORK", "off").
		WithExec([]string{"go", "build", "-trimpath", "-o", "/out/gantry-publish", "./cmd/gantry-publish"}).
		File("/out/gantry-publish")
}
