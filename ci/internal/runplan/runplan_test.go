package runplan

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/spf13/pflag"

	"github.com/gantry-ci/gantry/ci/internal/layercache"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/project"
	"github.com/gantry-ci/gantry/ci/internal/signing"
	"github.com/gantry-ci/gantry/ci/internal/testrepo"
)

// Build secrets are read from the environment and taken out of it: no
// process Gantry starts (git, go build, the Dagger CLI) inherits them.
func TestBuildSecrets(t *testing.T) {
	t.Setenv("GANTRY_TEST_NPM_TOKEN", "s3cret")
	got, err := readBuildSecrets(map[string]string{"npmrc": "GANTRY_TEST_NPM_TOKEN"}, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if got["npmrc"] != "s3cret" {
		t.Errorf("secrets %v, want npmrc's value", got)
	}
	if v, ok := os.LookupEnv("GANTRY_TEST_NPM_TOKEN"); ok {
		t.Errorf("$GANTRY_TEST_NPM_TOKEN is still set (%d bytes): child processes would inherit it", len(v))
	}
}

// A build secret may be the registry token (a Dockerfile that fetches
// private modules with it): Prepare takes the token out of the environment
// first, and the secret still gets its value.
func TestBuildSecretFromTheToken(t *testing.T) {
	t.Setenv("GANTRY_TEST_TOKEN", "t0ken")
	decl := project.Project{Build: project.Build{Secrets: map[string]string{"token": "GANTRY_TEST_TOKEN"}}}.WithDefaults()
	opts := options.New(os.Getenv, Declared(decl))
	fs := pflag.NewFlagSet("gantry", pflag.ContinueOnError)
	opts.Bind(fs)
	if err := fs.Parse([]string{"--dry-run", "--source", testrepo.Git(t), "--token-env", "GANTRY_TEST_TOKEN"}); err != nil {
		t.Fatal(err)
	}
	in, err := Prepare(context.Background(), decl, opts, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if in.Secrets["token"] != "t0ken" || in.Token != "t0ken" {
		t.Errorf("secret %q, token %q: want both the token's value", in.Secrets["token"], in.Token)
	}
}

// The project's build args come first and in order; Gantry's own follow
// and can't be replaced by the declaration (project.Validate refuses
// them).
func TestBuildArgs(t *testing.T) {
	in := &Run{Opts: &options.Options{Event: "push", Ref: "refs/heads/main"}, SHA: "c0ffee",
		Decl: project.Project{Build: project.Build{Args: map[string]string{"ZETA": "z", "ALPHA": "a"}}}}
	in.Tags.Version = "1.2.3"
	var got []string
	for _, a := range in.BuildArgs() {
		got = append(got, a.Name+"="+a.Value)
	}
	want := []string{"ALPHA=a", "ZETA=z", "GO_IMAGE=", "RUNTIME_IMAGE=", "VERSION=1.2.3", "COMMIT=c0ffee", "BUILDKIT_CACHE_MOUNT_NS=gantry-publish"}
	if !slices.Equal(got, want) {
		t.Errorf("build args %q, want %q", got, want)
	}
	var names []string
	for _, a := range in.BuildArgs()[2:] {
		names = append(names, a.Name)
	}
	if !slices.Equal(names, project.ReservedArgs) {
		t.Errorf("Gantry's own args %q, but project.ReservedArgs (what a declaration may not set) is %q", names, project.ReservedArgs)
	}
}

// Issue 21, item 2: the Dockerfile's cache mounts are the engine's, so
// without a namespace per trust level a pull request's Dockerfile could
// plant build-cache entries that a publishing build on the same engine
// compiles with.
func TestMountNamespace(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts options.Options
		want string
	}{
		{name: "a push publishes", opts: options.Options{Event: "push", Ref: "refs/heads/main"}, want: layercache.PublishNamespace},
		{name: "a release tag publishes", opts: options.Options{Event: "push", Ref: "refs/tags/v1.2.3"}, want: layercache.PublishNamespace},
		{name: "a dry run", opts: options.Options{Event: "push", Ref: "refs/heads/main", DryRun: true}, want: layercache.CheckNamespace},
		{name: "a pull request", opts: options.Options{Event: "pull_request", Ref: "refs/pull/7/merge"}, want: layercache.CheckNamespace},
		{name: "a pull request with the layer cache off", opts: options.Options{Event: "pull_request", Ref: "refs/pull/7/merge", LayerCache: "off"}, want: layercache.CheckNamespace},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, a := range (&Run{Opts: &tt.opts}).BuildArgs() {
				if a.Name == "BUILDKIT_CACHE_MOUNT_NS" {
					got = append(got, a.Value)
				}
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("BUILDKIT_CACHE_MOUNT_NS = %q, want once %q", got, tt.want)
			}
		})
	}
	if layercache.PublishNamespace == layercache.CheckNamespace {
		t.Fatal("the two trust levels share one namespace")
	}
}

// The summary's links: GHCR's package page, under the repository its
// source label names, and the command that verifies what was published.
func TestSummaryLinks(t *testing.T) {
	for _, tt := range []struct {
		registry, image, repository, want string
	}{
		{"ghcr.io", "acme/app", "acme/app", "https://github.com/acme/app/pkgs/container/app"},
		{"ghcr.io", "acme/tools/lint", "acme/tools", "https://github.com/acme/tools/pkgs/container/tools%2Flint"},
		{"ghcr.io", "other/app", "acme/app", ""},
		{"172.17.0.1:5000", "acme/app", "acme/app", ""},
		{"ghcr.io", "acme/app", "", ""},
	} {
		if got := packageURL(&options.Options{Registry: tt.registry, Image: tt.image, Repository: tt.repository}); got != tt.want {
			t.Errorf("packageURL(%s/%s, %s) = %q, want %q", tt.registry, tt.image, tt.repository, got, tt.want)
		}
	}
	const d = "sha256:9c63108afca75b0545031f4fba518bc810058c41aa2c9fc27dbfac25eea70df7"
	in := &Run{Opts: &options.Options{Registry: "ghcr.io", Image: "acme/app", Repository: "acme/app"}, SHA: "c0ffee"}
	if got := in.verifyCommand(d); got != "" {
		t.Errorf("an unsigned run's verify command %q, want none", got)
	}
	in.Sign.Key = &signing.KeyPair{}
	if got, want := in.verifyCommand(d), "gantry-verify --key cosign.pub --repository acme/app --commit c0ffee ghcr.io/acme/app@"+d; got != want {
		t.Errorf("verify command %q, want %q", got, want)
	}
}

// The summary links each transparency-log entry of a keyless publish
// where a user can read it: Sigstore's search for its public Rekor, the
// entry's API URL for another.
func TestRekorEntries(t *testing.T) {
	tests := []struct {
		url     string
		indexes []int64
		want    string
	}{
		{options.DefaultRekorURL, []int64{7, 9}, " (entries [7](https://search.sigstore.dev/?logIndex=7), [9](https://search.sigstore.dev/?logIndex=9))"},
		{"http://172.17.0.1:5023/", []int64{0}, " (entries [0](http://172.17.0.1:5023/api/v1/log/entries?logIndex=0))"},
		{options.DefaultRekorURL, nil, ""},
	}
	for _, tt := range tests {
		if got := rekorEntries(tt.url, tt.indexes); got != tt.want {
			t.Errorf("rekorEntries(%s, %v) = %q, want %q", tt.url, tt.indexes, got, tt.want)
		}
	}
}
