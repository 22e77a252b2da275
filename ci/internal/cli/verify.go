package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/origin"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/runplan"
)

// runVerify is `go run ./ci verify IMAGE`: it checks a published image's
// signature, provenance and newest scan, one line each, and exits 0 only if
// all pass.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	opts := options.NewVerify(getenv)
	fs := pflag.NewFlagSet("gantry verify", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts.Bind(fs)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: go run ./ci verify IMAGE [flags]\n\n%s Flags:\n%s", options.VerifyAbout, fs.FlagUsages())
			return pipeline.ExitOK
		}
		fmt.Fprintf(stderr, "gantry verify: %v (see --help)\n", err)
		return pipeline.ExitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "gantry verify: want one IMAGE (registry/name:tag or @sha256:...), got %d arguments (see --help)\n", fs.NArg())
		return pipeline.ExitUsage
	}
	opts.Image = fs.Arg(0)
	token := getenv(opts.TokenEnv)
	if opts.TokenEnv != "" {
		os.Unsetenv(opts.TokenEnv)
	}
	if err := opts.Validate(func(k string) string {
		if k == opts.TokenEnv {
			return token
		}
		return getenv(k)
	}); err != nil {
		fmt.Fprintf(stderr, "gantry verify: %v\n", err)
		return pipeline.ExitUsage
	}
	set, err := images.Load(opts.ImagesFile)
	if err != nil {
		fmt.Fprintf(stderr, "gantry verify: --images: %v\n", err)
		return pipeline.ExitUsage
	}
	gantry, err := origin.Find(ctx, "")
	if err != nil {
		fmt.Fprintf(stderr, "gantry verify: %v\n", err)
		return pipeline.ExitUsage
	}

	client, disconnect, err := connect(ctx, opts.EngineTimeout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gantry verify: %v\n", err)
		return pipeline.ExitInternal
	}
	defer disconnect()
	env := pipeline.Env{Client: client, Images: set, RunID: runplan.NewRunID()}
	platform, err := client.DefaultPlatform(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "gantry verify: asking the engine for its platform: %v\n", err)
		return pipeline.ExitInternal
	}
	bin, err := pipeline.HostPublisher(client, gantry.Dir)(ctx, platform)
	if err != nil {
		fmt.Fprintf(stderr, "gantry verify: %v\n", err)
		return pipeline.ExitInternal
	}
	in := pipeline.VerifyInput{Image: opts.Image, PublicKey: opts.PublicKey, Repository: "https://github.com/" + opts.Repository,
		Commit: opts.Commit, Severity: opts.Severity, MaxScanAge: opts.MaxScanAge, Username: opts.Username, Publisher: bin}
	if opts.PublicKey == nil {
		in.Keyless = &opts.Keyless
	}
	if token != "" {
		in.Token = client.SetSecret("gantry-registry-token", token)
	}
	rep, err := pipeline.Verify(ctx, env, in)
	if err != nil {
		fmt.Fprintf(stderr, "gantry verify: %v\n", err)
		return pipeline.ExitInternal
	}
	fmt.Fprint(stdout, rep.Text(opts.Image))
	if !rep.OK() {
		return pipeline.ExitUnverified
	}
	return pipeline.ExitOK
}
