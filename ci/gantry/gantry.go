// Package gantry is a container-image pipeline as a Go program: it tests,
// builds, smoke-tests, scans, signs, attests and publishes a repository's
// image on Dagger. A repository declares its pipeline in Go, in ci/main.go:
//
//	package main
//
//	import "github.com/gantry-ci/gantry/ci/gantry"
//
//	func main() {
//		gantry.Main(gantry.Project{
//			Image: gantry.Image{Description: "The orders service", Licenses: "Apache-2.0"},
//		})
//	}
//
// and runs it with `go run ./ci`, the same command locally and in GitHub
// Actions (`go run ./ci --help` lists the flags of one run).
package gantry

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/cli"
	"github.com/gantry-ci/gantry/ci/internal/project"
	"github.com/gantry-ci/gantry/ci/internal/tags"
)

// Project is what a repository declares about its pipeline. Every field's
// zero value is a default, so the zero Project is a valid one.
type Project struct {
	// Image describes the published image.
	Image Image
	// Images are the external images the project's tests and Dockerfile
	// use, by name, each pinned by digest, e.g.
	// {"NODE_IMAGE": "node:22.12-bookworm-slim@sha256:…"}. Each is passed to
	// the build as the build arg of its name (ARG NODE_IMAGE), and test
	// commands and services name them. The image set file (--images) can
	// replace any of them for a run, e.g. with a mirror's copy.
	Images map[string]string
	// Test is what the test stage runs.
	Test Test
	// Build is how the image is built.
	Build Build
	// Smoke is the service's contract, which the smoke stage checks
	// against the built image before anything is published.
	Smoke Smoke
	// Scan is the vulnerability gate.
	Scan Scan
	// Tags are the tag rules beyond Gantry's own.
	Tags Tags
}

// Tags are a project's tag rules. Gantry's own always apply: every
// published image is tagged with its commit's full SHA (how promotion and
// verify find a commit's image); a push to the default branch moves
// `latest`; a release tag vX.Y.Z adds X.Y.Z, and X.Y and X while it is the
// highest of their line, and `latest` while it is the highest release
// (--latest overrides); none of them ever moves to a lower version. Pull
// requests are never published, so there are no pull-request tags: their
// code has not been reviewed into the repository yet (docs/security.md).
type Tags struct {
	// Branch adds the branch's name to a push to a branch, e.g. "main";
	// characters a tag can't hold become '-' (feature/x: feature-x). A
	// name that is one of Gantry's own tags (latest, 1.5) is left out.
	Branch bool
	// Raw are tags every publishing run adds, e.g. "edge". They move with
	// every publish, with no order between runs.
	Raw []string
	// Prefix and Suffix go around every tag but the commit SHA, e.g.
	// Suffix "-alpine" publishes 1.4.2-alpine, 1.4-alpine and
	// latest-alpine: two flavors of an image in one repository.
	Prefix, Suffix string
}

// Scan is the scan stage: Trivy scans every platform's image, offline,
// against a vulnerability DB pinned by digest, and the run fails on a
// finding at a gating severity that no .trivyignore at the repository
// root suppresses.
type Scan struct {
	// Severities fail the scan: UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL.
	// Default: HIGH and CRITICAL. The flag --severity overrides it.
	Severities []string
	// IgnoreUnfixed leaves out vulnerabilities with no fixed version. The
	// flag --ignore-unfixed sets it for one run.
	IgnoreUnfixed bool
	// Covers is what Trivy must have read in every image for a clean
	// scan to count: a report that recognised nothing has no findings,
	// and would pass. Default: CoversEntrypoint.
	Covers []Coverage
}

// Coverage is something a scan must have read (Scan.Covers).
type Coverage string

const (
	// CoversEntrypoint is the binary the image's ENTRYPOINT runs, one
	// that Trivy reads its dependencies from (a Go or Rust binary): a
	// static binary on distroless.
	CoversEntrypoint Coverage = project.CoversEntrypoint
	// CoversOSPackages is the image's OS package database (Debian's,
	// Alpine's, Red Hat's), with the language runtime where it comes from
	// OS packages: an interpreted service on a distribution's image.
	CoversOSPackages Coverage = project.CoversOSPackages
)

// CoversFile is a file in the image, by its absolute path, that Trivy
// reads packages from: a binary, or a language's package metadata that
// Trivy reads in images (e.g. a Python package's METADATA, a Java jar).
func CoversFile(path string) Coverage { return Coverage(path) }

// Image describes the published image. Each field is an OCI label
// (org.opencontainers.image.*) that registries show beside the image; an
// empty one is left out.
type Image struct {
	// Title is a short name. Default: the last element of the image's
	// name (--image).
	Title string
	// Description says what the image is, in a sentence.
	Description string
	// Licenses is an SPDX license expression, e.g. "MIT" or
	// "Apache-2.0 OR MIT".
	Licenses string
	// Vendor is who distributes the image.
	Vendor string
	// Documentation is the http(s) address of the image's documentation.
	Documentation string
}

// Test is the test stage: `go vet ./...` and `go test ./...` of each Go
// module, and each command, all at once. It runs in every run that
// publishes.
type Test struct {
	// GoModules are the directories of the Go modules to test, relative to
	// the repository root, each on its own (GOWORK=off) in Gantry's pinned
	// Go image. Default: ".", the root module, unless Commands are
	// declared. The flag --test-modules and GANTRY_TEST_MODULES override
	// it for one run.
	GoModules []string
	// Postgres gives every test a PostgreSQL (Gantry's pinned image) at
	// host "db", its URL in the variable URLEnv names, e.g.
	// TEST_DATABASE_URL. Default: none.
	Postgres *Postgres
	// Commands are tests in the project's own images: a Node service's
	// `npm test`, a linter, an integration suite with its services.
	Commands []Command
}

// Command is a test run in one of the project's images (Project.Images),
// in a copy of the repository at /src (less .git and .env files). It
// passes when it exits 0.
type Command struct {
	// Name says what it tests, in the log. Default: the command line.
	Name string
	// Image is the name of one of Project.Images.
	Image string
	// Run is the command and its arguments, run as they are (no shell),
	// e.g. []string{"node", "--test"}.
	Run []string
	// Dir is where it runs, relative to the repository root. Default: the
	// root.
	Dir string
	// Env is its environment, beside the image's.
	Env map[string]string
	// Services are containers it reaches by their names: each starts
	// first, and the command once each listens on its Port.
	Services []Service
}

// Service is a test command's dependency, e.g.
// {Name: "redis", Image: "REDIS_IMAGE", Port: 6379}.
type Service struct {
	// Name is its host name, one DNS label.
	Name string
	// Image is the name of one of Project.Images.
	Image string
	// Port is the TCP port it listens on.
	Port int
	// Env is its environment, beside the image's.
	Env map[string]string
	// Args is its command, in place of the image's CMD (the entrypoint
	// stays). Default: the image's.
	Args []string
}

// Build is the image's build: a Dockerfile, built by the Dagger engine for
// every platform at once.
type Build struct {
	// Dockerfile is its path, relative to the repository root, which is
	// the build context (less what .dockerignore at the root leaves out).
	// Default: "Dockerfile".
	Dockerfile string
	// Target is the stage to build. Default: the last one.
	Target string
	// Args are build args (ARG). Gantry sets GO_IMAGE and RUNTIME_IMAGE
	// (its pinned images), VERSION, COMMIT and BUILDKIT_CACHE_MOUNT_NS
	// itself; declaring one of those is an error.
	Args map[string]string
	// Secrets are build secrets: each id a Dockerfile mounts (RUN
	// --mount=type=secret,id=ID, at /run/secrets/ID), mapped to the
	// environment variable its value is read from, e.g.
	// {"npmrc": "NPM_TOKEN"}. A run whose variable is empty exits 2. The
	// values reach the build as Dagger secrets only: they are not in the
	// image, the logs, the reports or the run cache's key (a changed value
	// alone does not rerun a passed run).
	Secrets map[string]string
	// Platforms are the platforms a run in GitHub Actions builds and
	// publishes as one index, e.g. {"linux/amd64", "linux/arm64",
	// "linux/arm/v7"}: Linux on amd64, arm64, arm (v6, v7), 386, ppc64le,
	// s390x or riscv64, any the Dockerfile builds. Default: linux/amd64
	// and linux/arm64. A run elsewhere builds the host's platform; the flag
	// --platform chooses for one run.
	Platforms []string
}

// Smoke is the service's contract. The smoke stage runs the image for the
// engine's platform as a service, with its environment and dependencies,
// and checks what it answers over HTTP; it also requires an exec-form
// HEALTHCHECK in the Dockerfile's last stage, and runs it.
type Smoke struct {
	// Port is the port the service listens on. Default: 8080.
	Port int
	// User is the user the image must run as, by name or uid, e.g.
	// "65532". Default: any user but root.
	User string
	// Env is the service's environment in the smoke stage.
	Env map[string]string
	// Postgres gives the service a PostgreSQL of its own. Default: none.
	Postgres *Postgres
	// Services are its other dependencies (a Redis, another service of
	// the project's), each from one of Project.Images and reached at its
	// Name; the service starts once each listens on its Port. "api" is
	// the service's own host, and "db" its PostgreSQL's.
	Services []Service
	// Ready is the check that says the service is up, polled (after 1,
	// 2, 4, 4… seconds) until it passes. Default: GET / answers 200.
	Ready Check
	// ReadyWithin bounds the wait for Ready. Default: 90 s.
	ReadyWithin time.Duration
	// Checks must pass once the service is ready, each polled as Ready is
	// for CheckWithin (default: 10 s).
	Checks      []Check
	CheckWithin time.Duration
	// Outage, with Postgres, is what the service must answer once its
	// database stops, within OutageWithin (default: 15 s): a service that
	// says it is healthy without its database fails. Default: no outage
	// check.
	Outage       *Check
	OutageWithin time.Duration
	// Healthcheck is how the image's own HEALTHCHECK command runs.
	Healthcheck Healthcheck
}

// Postgres is a PostgreSQL (the pinned image) for the service.
type Postgres struct {
	// URLEnv is the variable that gets its URL,
	// postgres://USER:PASSWORD@db:5432/DB?sslmode=disable, e.g.
	// "DATABASE_URL".
	URLEnv string
}

// Check is an HTTP GET of Path on the service and what it must answer.
// The probe is busybox's wget: a 2xx answer's body is read, any other
// status is read from its error line, redirects are followed.
type Check struct {
	// Path, with its query if any. Default: "/".
	Path string
	// Status is the HTTP status the answer must have: 2xx, 4xx or 5xx.
	// Default: 200. Any 2xx answer counts as a declared 2xx status.
	Status int
	// Body is a substring the body of a 2xx answer must contain. Default:
	// any body.
	Body string
}

// Healthcheck is how the image's HEALTHCHECK command runs in the smoke
// stage. Dagger (v0.19) can't run a command inside a running service, so
// it runs in a second container of the same image, with the service bound
// as host "api"; Env points the command there (the command Docker runs
// inside the service's own container would reach it on localhost).
type Healthcheck struct {
	Env map[string]string
}

// Main runs the pipeline with the process's arguments and environment, and
// exits with its exit code (0 when it passed; the others are in Gantry's
// docs/pipeline.md). A declaration that is wrong exits 2 with one line,
// before the engine is contacted.
func Main(p Project) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, p.declaration(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// declaration is p as the pipeline takes it.
func (p Project) declaration() project.Project {
	d := project.Project{
		Title:         p.Image.Title,
		Description:   p.Image.Description,
		Licenses:      p.Image.Licenses,
		Vendor:        p.Image.Vendor,
		Documentation: p.Image.Documentation,
		TestModules:   p.Test.GoModules,
		TestCommands:  p.Test.commands(),
		Images:        p.Images,
		Build:         project.Build(p.Build),
		Smoke:         p.Smoke.declaration(),
		Scan:          project.Scan{Severities: p.Scan.Severities, IgnoreUnfixed: p.Scan.IgnoreUnfixed},
		Tags: tags.Rules{Branch: p.Tags.Branch, Raw: p.Tags.Raw,
			Flavor: tags.Flavor{Prefix: p.Tags.Prefix, Suffix: p.Tags.Suffix}},
	}
	for _, c := range p.Scan.Covers {
		d.Scan.Covers = append(d.Scan.Covers, string(c))
	}
	if p.Test.Postgres != nil {
		d.TestPostgres = &project.Postgres{URLEnv: p.Test.Postgres.URLEnv}
	}
	return d
}

func (t Test) commands() []project.Command {
	var out []project.Command
	for _, c := range t.Commands {
		pc := project.Command{Name: c.Name, Image: c.Image, Run: c.Run, Dir: c.Dir, Env: c.Env}
		for _, s := range c.Services {
			pc.Services = append(pc.Services, project.Service(s))
		}
		out = append(out, pc)
	}
	return out
}

func (s Smoke) declaration() project.Smoke {
	d := project.Smoke{
		Port:           s.Port,
		User:           s.User,
		Env:            s.Env,
		Ready:          project.Check(s.Ready),
		ReadyWithin:    s.ReadyWithin,
		CheckWithin:    s.CheckWithin,
		OutageWithin:   s.OutageWithin,
		HealthcheckEnv: s.Healthcheck.Env,
	}
	for _, sv := range s.Services {
		d.Services = append(d.Services, project.Service(sv))
	}
	if s.Postgres != nil {
		d.Postgres = &project.Postgres{URLEnv: s.Postgres.URLEnv}
	}
	for _, c := range s.Checks {
		d.Checks = append(d.Checks, project.Check(c))
	}
	if s.Outage != nil {
		o := project.Check(*s.Outage)
		d.Outage = &o
	}
	return d
}
