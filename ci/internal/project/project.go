// Package project is what a repository declares about its pipeline, in its
// ci/main.go through the public package gantry, as the pipeline takes it.
package project

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/imageref"
	"github.com/gantry-ci/gantry/ci/internal/platforms"
	"github.com/gantry-ci/gantry/ci/internal/tags"
)

// Project is a repository's declaration. Zero values are defaults
// (WithDefaults fills them in).
type Project struct {
	// The image's descriptive labels (org.opencontainers.image.*).
	Title, Description, Licenses, Vendor, Documentation string
	// TestModules are the Go modules the test stage vets and tests, by
	// directory under the repository root; none means the root module,
	// unless the project declares TestCommands.
	TestModules []string
	// TestPostgres gives every test a PostgreSQL; nil for none.
	TestPostgres *Postgres
	// TestCommands are tests run in the project's images.
	TestCommands []Command
	// Images are the external images the project uses, by name: each is
	// a build arg of the same name, and test commands and services name
	// them. Each is pinned by digest.
	Images map[string]string
	Build  Build
	Smoke  Smoke
	Scan   Scan
	Tags   tags.Rules
}

// Scan is the scan gate's declaration.
type Scan struct {
	Severities    []string // that fail it; nil for Gantry's default
	IgnoreUnfixed bool
	// Covers is what Trivy must have read for a clean scan to count:
	// CoversEntrypoint, CoversOSPackages or a file's absolute path.
	Covers []string
}

// What a scan can be required to cover (Scan.Covers), besides a file.
const (
	CoversEntrypoint = "entrypoint"  // the binary the ENTRYPOINT runs
	CoversOSPackages = "os-packages" // the OS package database
)

// severities are Trivy's, as the gate takes them.
var severities = []string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// Command is a test: a command run in one of the project's images, in the
// repository at /src, with its services reachable by their names.
type Command struct {
	Name     string // says what it tests; "" for the command line
	Image    string // a name in Project.Images
	Run      []string
	Dir      string // the directory to run in, under the repository root
	Env      map[string]string
	Services []Service
}

// Service is a test command's dependency, reachable at host Name.
type Service struct {
	Name  string
	Image string // a name in Project.Images
	Port  int    // what it listens on: the command starts once it does
	Env   map[string]string
	Args  []string // its command; nil for the image's
}

// Build is the image's Dockerfile build.
type Build struct {
	Dockerfile string            // its path under the repository root
	Target     string            // the stage to build; "" for the last
	Args       map[string]string // build args besides Gantry's own (ReservedArgs)
	// Secrets maps a build secret's id (RUN --mount=type=secret,id=ID) to
	// the environment variable its value is read from.
	Secrets map[string]string
	// Platforms are what a run in GitHub Actions builds; nil for Gantry's
	// default.
	Platforms []string
}

// ReservedArgs are the build args Gantry sets itself: the pinned images,
// the version and commit it stamps, and the cache-mount namespace.
var ReservedArgs = []string{"GO_IMAGE", "RUNTIME_IMAGE", "VERSION", "COMMIT", "BUILDKIT_CACHE_MOUNT_NS"}

// Smoke is the service's contract that the smoke stage checks.
type Smoke struct {
	Port int    // the port it listens on
	User string // the user it must run as; "" for any user but root
	Env  map[string]string
	// Postgres is the service's database; nil for none.
	Postgres *Postgres
	// Services are its other dependencies, reached at their names.
	Services    []Service
	Ready       Check // polled until it passes, for ReadyWithin
	ReadyWithin time.Duration
	Checks      []Check // once ready, each polled for CheckWithin
	CheckWithin time.Duration
	// Outage is what the service answers once its database stops,
	// within OutageWithin; nil for no outage check.
	Outage       *Check
	OutageWithin time.Duration
	// HealthcheckEnv is the environment of the image's own HEALTHCHECK
	// command, run in a second container of the image with the service
	// bound as host "api": how the service's healthcheck is pointed there.
	HealthcheckEnv map[string]string
}

// Postgres is a PostgreSQL whose URL the service gets in URLEnv.
type Postgres struct{ URLEnv string }

// Check is an HTTP GET of Path and what the answer must be.
type Check struct {
	Path   string
	Status int
	Body   string // a substring of a 2xx answer's body; "" for any
}

// WithDefaults fills in what p leaves zero.
func (p Project) WithDefaults() Project {
	if p.Build.Dockerfile == "" {
		p.Build.Dockerfile = "Dockerfile"
	}
	if len(p.TestModules) == 0 && len(p.TestCommands) == 0 {
		p.TestModules = []string{"."}
	}
	if len(p.Scan.Covers) == 0 {
		p.Scan.Covers = []string{CoversEntrypoint}
	}
	p.TestCommands = slices.Clone(p.TestCommands)
	for i, c := range p.TestCommands {
		if c.Dir == "" {
			p.TestCommands[i].Dir = "."
		}
		if c.Name == "" {
			p.TestCommands[i].Name = strings.Join(c.Run, " ")
		}
	}
	s := &p.Smoke
	if s.Port == 0 {
		s.Port = 8080
	}
	s.Ready = s.Ready.withDefaults()
	s.Checks = slices.Clone(s.Checks)
	for i := range s.Checks {
		s.Checks[i] = s.Checks[i].withDefaults()
	}
	if s.Outage != nil {
		o := s.Outage.withDefaults()
		s.Outage = &o
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&s.ReadyWithin, 90 * time.Second}, {&s.CheckWithin, 10 * time.Second}, {&s.OutageWithin, 15 * time.Second}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	return p
}

func (c Check) withDefaults() Check {
	if c.Path == "" {
		c.Path = "/"
	}
	if c.Status == 0 {
		c.Status = 200
	}
	return c
}

// envName is a variable name the way shells and Docker take it.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate says in one line what the declaration got wrong and how to fix
// it. It takes p with its defaults filled in.
func (p Project) Validate() error {
	if p.Documentation != "" {
		u, err := url.Parse(p.Documentation)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("gantry.Image.Documentation %q is not an http(s) URL: give the address of the image's documentation in ci/main.go", p.Documentation)
		}
	}
	for _, m := range p.TestModules {
		if m == "" {
			return fmt.Errorf("gantry.Test.GoModules has an empty entry: name each module by its directory, \".\" for the repository root")
		}
	}
	if err := p.validateImages(); err != nil {
		return err
	}
	if p.TestPostgres != nil && !envName.MatchString(p.TestPostgres.URLEnv) {
		return fmt.Errorf("gantry.Test.Postgres.URLEnv: %q is not a variable name: name the variable the tests read the database URL from, e.g. TEST_DATABASE_URL", p.TestPostgres.URLEnv)
	}
	for i, c := range p.TestCommands {
		if err := p.validateCommand(c); err != nil {
			return fmt.Errorf("gantry.Test.Commands[%d]: %v", i, err)
		}
	}
	if err := p.Build.validate(); err != nil {
		return err
	}
	if err := p.Scan.validate(); err != nil {
		return err
	}
	if err := p.Tags.Validate(); err != nil {
		return fmt.Errorf("gantry.Tags: %v", err)
	}
	s := p.Smoke
	if s.Port < 1 || s.Port > 65535 {
		return fmt.Errorf("gantry.Smoke.Port %d is not a TCP port: give the port the service listens on, 1-65535", s.Port)
	}
	for _, env := range []struct {
		field string
		vars  map[string]string
	}{{"gantry.Smoke.Env", s.Env}, {"gantry.Smoke.Healthcheck.Env", s.HealthcheckEnv}} {
		for k := range env.vars {
			if !envName.MatchString(k) {
				return fmt.Errorf("%s: %q is not a variable name: use letters, digits and _, not starting with a digit", env.field, k)
			}
		}
	}
	if s.Postgres != nil && !envName.MatchString(s.Postgres.URLEnv) {
		return fmt.Errorf("gantry.Smoke.Postgres.URLEnv: %q is not a variable name: name the variable the service reads its database URL from, e.g. DATABASE_URL", s.Postgres.URLEnv)
	}
	reserved := map[string]string{SmokeAPIHost: "the host of the service under test"}
	if s.Postgres != nil {
		reserved[SmokeDBHost] = "the host of gantry.Smoke.Postgres"
	}
	if err := p.validateServices(s.Services, reserved); err != nil {
		return fmt.Errorf("gantry.Smoke.%v", err)
	}
	if s.Outage != nil && s.Postgres == nil {
		return fmt.Errorf("gantry.Smoke.Outage checks the service while its database is down, and there is none: declare gantry.Smoke.Postgres, or drop Outage")
	}
	type named struct {
		field string
		c     Check
	}
	checks := []named{{"gantry.Smoke.Ready", s.Ready}}
	for i, c := range s.Checks {
		checks = append(checks, named{fmt.Sprintf("gantry.Smoke.Checks[%d]", i), c})
	}
	if s.Outage != nil {
		checks = append(checks, named{"gantry.Smoke.Outage", *s.Outage})
	}
	for _, n := range checks {
		if err := n.c.validate(); err != nil {
			return fmt.Errorf("%s: %v", n.field, err)
		}
	}
	return nil
}

// validateImages checks the names and pins of p.Images.
func (p Project) validateImages() error {
	for k, ref := range p.Images {
		switch {
		case !envName.MatchString(k):
			return fmt.Errorf("gantry.Images: %q is not a build arg name: use letters, digits and _, not starting with a digit, e.g. NODE_IMAGE", k)
		case slices.Contains(ReservedArgs, k):
			return fmt.Errorf("gantry.Images: %s is Gantry's own build arg: name the image otherwise", k)
		case p.Build.Args[k] != "":
			return fmt.Errorf("gantry.Images: %s is also in gantry.Build.Args: an image is passed as the build arg of its name already; drop one", k)
		}
		if err := imageref.Pinned(ref); err != nil {
			return fmt.Errorf("gantry.Images[%q]: %v", k, err)
		}
	}
	return nil
}

func (p Project) validateCommand(c Command) error {
	if len(c.Run) == 0 || c.Run[0] == "" {
		return fmt.Errorf("Run is empty: give the command and its arguments, e.g. []string{\"npm\", \"test\"}")
	}
	if _, ok := p.Images[c.Image]; !ok {
		return fmt.Errorf("Image %q is not in gantry.Images: declare it there, pinned by digest, and name it here", c.Image)
	}
	if !filepath.IsLocal(c.Dir) || path.Clean(c.Dir) != c.Dir {
		return fmt.Errorf("Dir %q is not a clean directory inside the repository: give it relative to the root, e.g. web", c.Dir)
	}
	for k := range c.Env {
		if !envName.MatchString(k) {
			return fmt.Errorf("Env: %q is not a variable name: use letters, digits and _, not starting with a digit", k)
		}
	}
	reserved := map[string]string{}
	if p.TestPostgres != nil {
		reserved[TestDBHost] = "the host of gantry.Test.Postgres"
	}
	return p.validateServices(c.Services, reserved)
}

// validateServices checks services a container reaches by their names;
// reserved are names already taken, and by what.
func (p Project) validateServices(services []Service, reserved map[string]string) error {
	seen := map[string]bool{}
	for _, sv := range services {
		switch {
		case !hostName.MatchString(sv.Name) || sv.Name == "localhost":
			return fmt.Errorf("Services: %q is not a host name: name the service as it is reached, e.g. redis", sv.Name)
		case seen[sv.Name]:
			return fmt.Errorf("Services: %q is declared twice", sv.Name)
		case reserved[sv.Name] != "":
			return fmt.Errorf("Services: %q is %s: name the service otherwise", sv.Name, reserved[sv.Name])
		}
		seen[sv.Name] = true
		if _, ok := p.Images[sv.Image]; !ok {
			return fmt.Errorf("Services[%q]: Image %q is not in gantry.Images: declare it there, pinned by digest, and name it here", sv.Name, sv.Image)
		}
		if sv.Port < 1 || sv.Port > 65535 {
			return fmt.Errorf("Services[%q]: Port %d is not a TCP port: give the port it listens on, 1-65535 (what uses it starts once it does)", sv.Name, sv.Port)
		}
		for k := range sv.Env {
			if !envName.MatchString(k) {
				return fmt.Errorf("Services[%q].Env: %q is not a variable name", sv.Name, k)
			}
		}
	}
	return nil
}

// The hosts Gantry names: the tests' PostgreSQL, and in the smoke stage
// the service's PostgreSQL and the service itself (its healthcheck and
// probes reach it there).
const (
	TestDBHost   = "db"
	SmokeDBHost  = "db"
	SmokeAPIHost = "api"
)

// hostName is a service's name as the command reaches it: one DNS label.
var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (sc Scan) validate() error {
	for _, sev := range sc.Severities {
		if !slices.Contains(severities, sev) {
			return fmt.Errorf("gantry.Scan.Severities: %q is not one of Trivy's severities (%s)", sev, strings.Join(severities, ", "))
		}
	}
	for _, c := range sc.Covers {
		if c == CoversEntrypoint || c == CoversOSPackages {
			continue
		}
		if !path.IsAbs(c) || path.Clean(c) != c {
			return fmt.Errorf("gantry.Scan.Covers: %q is neither gantry.CoversEntrypoint, gantry.CoversOSPackages nor a file's clean absolute path in the image, e.g. /app/server", c)
		}
	}
	return nil
}

func (b Build) validate() error {
	if !filepath.IsLocal(b.Dockerfile) || filepath.Clean(b.Dockerfile) != b.Dockerfile {
		return fmt.Errorf("gantry.Build.Dockerfile %q is not a clean path inside the repository: give it relative to the root, e.g. build/Dockerfile", b.Dockerfile)
	}
	for k := range b.Args {
		switch {
		case !envName.MatchString(k):
			return fmt.Errorf("gantry.Build.Args: %q is not a build arg name: use letters, digits and _, not starting with a digit", k)
		case slices.Contains(ReservedArgs, k):
			return fmt.Errorf("gantry.Build.Args: %s is Gantry's own (it sets %s): drop it from the declaration", k, strings.Join(ReservedArgs, ", "))
		}
	}
	seen := map[string]bool{}
	for _, p := range b.Platforms {
		if _, err := platforms.Parse(p); err != nil {
			return fmt.Errorf("gantry.Build.Platforms: %v", err)
		}
		if seen[p] {
			return fmt.Errorf("gantry.Build.Platforms: %q is listed twice", p)
		}
		seen[p] = true
	}
	for id, env := range b.Secrets {
		switch {
		case !secretID.MatchString(id) || strings.HasPrefix(id, "gantry-"):
			return fmt.Errorf("gantry.Build.Secrets: %q is not a secret id: use letters, digits, '.', '_' and '-', not starting with gantry- (Gantry's own)", id)
		case !envName.MatchString(env):
			return fmt.Errorf("gantry.Build.Secrets[%q]: %q is not an environment variable name: name the variable that holds the secret", id, env)
		}
	}
	return nil
}

// secretID is a build secret's id, as a Dockerfile mounts it.
var secretID = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

func (c Check) validate() error {
	u, err := url.Parse(c.Path)
	if err != nil || c.Path == "" || c.Path[0] != '/' || u.Host != "" {
		return fmt.Errorf("path %q is not an absolute path such as /health", c.Path)
	}
	if c.Status < 200 || c.Status > 599 || (c.Status >= 300 && c.Status < 400) {
		return fmt.Errorf("status %d can't be checked: give a 2xx, 4xx or 5xx status (redirects are followed)", c.Status)
	}
	if c.Body != "" && c.Status >= 300 {
		return fmt.Errorf("a body is checked only in a 2xx answer, not in a %d", c.Status)
	}
	return nil
}
