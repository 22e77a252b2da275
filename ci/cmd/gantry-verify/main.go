// Command gantry-verify checks a published image as `go run ./ci verify`
// does (its signature, its provenance, its newest scan), on the host: no
// Dagger engine, no Docker, no checkout. A deployer installs it alone:
//
//	go install github.com/gantry-ci/gantry/ci/cmd/gantry-verify@VERSION
//	gantry-verify --repository OWNER/REPO ghcr.io/owner/app:1.4.2
//
// It prints one line per check, or with --output json the report, and
// exits 0 when every check passed, 9 when one failed, 2 for bad input and
// 1 when the image could not be read.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"

	"github.com/gantry-ci/gantry/ci/cmd/internal/check"
	"github.com/gantry-ci/gantry/ci/internal/imageref"
	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/verify"
)

// Exit codes, as `go run ./ci verify` has them.
const (
	exitOK         = 0
	exitError      = 1
	exitUsage      = 2
	exitUnverified = 9
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	opts := options.NewVerify(getenv)
	fs := pflag.NewFlagSet("gantry-verify", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts.Bind(fs)
	fs.MarkHidden("engine-timeout") // no engine here
	output := fs.String("output", "text", "text: a line per check; json: the report")
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: gantry-verify IMAGE [flags]\n\n%s Flags:\n%s", options.VerifyAbout, fs.FlagUsages())
			return exitOK
		}
		fmt.Fprintf(stderr, "gantry-verify: %v (see --help)\n", err)
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "gantry-verify: want one IMAGE (registry/name:tag or @sha256:...), got %d arguments (see --help)\n", fs.NArg())
		return exitUsage
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "gantry-verify: --output %q: want text or json\n", *output)
		return exitUsage
	}
	opts.Image = fs.Arg(0)
	if err := opts.Validate(getenv); err != nil {
		fmt.Fprintf(stderr, "gantry-verify: %v\n", err)
		return exitUsage
	}
	set, err := images.Load(opts.ImagesFile)
	if err != nil {
		fmt.Fprintf(stderr, "gantry-verify: --images: %v\n", err)
		return exitUsage
	}
	req := check.Request{Image: opts.Image, PublicKey: opts.PublicKey, Insecure: set.Insecure(imageref.Registry(opts.Image)),
		Auth: auth(opts, getenv),
		Expect: verify.Expect{Repository: "https://github.com/" + opts.Repository, Commit: opts.Commit,
			Severity: opts.Severity, MaxScanAge: opts.MaxScanAge}}
	if opts.PublicKey == nil {
		req.Keyless = &opts.Keyless
	}
	rep, err := check.Verify(ctx, req)
	if err != nil {
		fmt.Fprintf(stderr, "gantry-verify: %v\n", err)
		return exitError
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		// Every check's verdict, and the image's, for admission scripts.
		out := struct {
			Image    string `json:"image"`
			Verified bool   `json:"verified"`
			verify.Report
		}{opts.Image, rep.OK(), rep}
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "gantry-verify: %v\n", err)
			return exitError
		}
	} else {
		fmt.Fprint(stdout, rep.Text(opts.Image))
	}
	if !rep.OK() {
		return exitUnverified
	}
	return exitOK
}

// auth is the token in --token-env with --username, else what `docker
// login` stored for the registry (the Docker config's credentials and
// helpers), else anonymous.
func auth(opts *options.Verify, getenv func(string) string) authn.Authenticator {
	if tok := getenv(opts.TokenEnv); opts.TokenEnv != "" && tok != "" {
		return &authn.Basic{Username: opts.Username, Password: tok}
	}
	return keychainAuth{opts.Image}
}

// keychainAuth resolves the Docker config's credentials for the image's
// registry when asked.
type keychainAuth struct{ image string }

func (k keychainAuth) Authorization() (*authn.AuthConfig, error) {
	reg, err := name.NewRegistry(imageref.Registry(k.image))
	if err != nil {
		return nil, err
	}
	a, err := authn.DefaultKeychain.Resolve(reg)
	if err != nil {
		return nil, err
	}
	return a.Authorization()
}
