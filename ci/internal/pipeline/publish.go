package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"dagger.io/dagger"
	v1 "github.com/google/go-containerregistry/pkg/v1"

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

	args := []string{"/gantry-publish", "--archive", "/in/image.tar", "--repository", repo,
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
	bin, err := r.publisher(ctx)
	if err != nil {
		return failWith(ExitInternal, err)
	}
	ctr := r.Client.Container().From(r.Images.Runtime).
		WithFile("/gantry-publish", bin, dagger.ContainerWithFileOpts{Permissions: 0o755}).
		WithMountedFile("/in/image.tar", archive, dagger.ContainerWithMountedFileOpts{Owner: "65532"}).
		WithMountedTemp("/tmp").
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
	var got push.Result
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		return fmt.Errorf("reading gantry-publish's result %q: %w", out, err)
	}
	res, err := publishedRefs(repo, r.Plan.Tags, got.Digest)
	if err != nil {
		return err
	}
	r.Published = &res
	for _, ref := range res.Refs {
		fmt.Fprintln(r.Out, ref)
	}
	return nil
}

// publishedRefs names what was published. Only the digest is taken from
// gantry-publish's output: Dagger masks every occurrence of a secret's value
// in a container's output, so a token that happens to equal part of the
// repository name would turn the printed refs into "***".
func publishedRefs(repo string, tags []string, digest string) (push.Result, error) {
	if _, err := v1.NewHash(digest); err != nil {
		return push.Result{}, fmt.Errorf("gantry-publish reported digest %q, want sha256:<64 hex>: %w", digest, err)
	}
	res := push.Result{Digest: digest}
	for _, t := range tags {
		res.Refs = append(res.Refs, repo+":"+t+"@"+digest)
	}
	return res, nil
}

// publisher is cmd/gantry-publish from the source's ci module, compiled on
// the host for the engine's platform (Go skips the link when the binary is
// up to date, and the host's build cache is warm from compiling Gantry).
// It runs in the pinned runtime image, which holds CA certificates and
// nothing else.
func (r *Run) publisher(ctx context.Context) (*dagger.File, error) {
	p := &r.publisherBin
	p.once.Do(func() { p.file, p.err = buildPublisher(ctx, r) })
	return p.file, p.err
}

func buildPublisher(ctx context.Context, r *Run) (*dagger.File, error) {
	platform, err := r.Client.DefaultPlatform(ctx)
	if err != nil {
		return nil, fmt.Errorf("asking the engine for its platform: %w", err)
	}
	goos, goarch, goarm, err := goPlatform(string(platform))
	if err != nil {
		return nil, err
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	out := filepath.Join(dir, "gantry", "gantry-publish-"+goos+"-"+goarch+goarm)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "./cmd/gantry-publish")
	cmd.Dir = filepath.Join(r.Opts.Source, "ci")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly",
		"GOOS="+goos, "GOARCH="+goarch, "GOARM="+goarm)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("compiling gantry-publish on the host (needs Go on PATH, as `go run ./ci` does): %w\n%s", err, msg)
	}
	return r.Client.Host().File(out), nil
}

// goPlatform maps an OCI platform (linux/arm/v7) to GOOS, GOARCH and GOARM.
func goPlatform(p string) (goos, goarch, goarm string, err error) {
	parts := strings.Split(p, "/")
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", "", "", fmt.Errorf("engine platform %q is not os/arch[/variant]", p)
	}
	if len(parts) == 3 && parts[1] == "arm" {
		goarm = strings.TrimPrefix(parts[2], "v")
	}
	return parts[0], parts[1], goarm, nil
}
