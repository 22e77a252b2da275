// Package options holds the pipeline's command-line options: one struct bound
// to flags (with environment fallbacks) and one Validate that checks every
// input before the pipeline connects to an engine.
package options

import (
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"
)

// Severities are Trivy's severity names, lowest first.
var Severities = []string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// Latest modes for the `latest` tag.
const (
	LatestAuto   = "auto"
	LatestAlways = "always"
	LatestNever  = "never"
)

// Options are the pipeline's inputs. Zero values are not meaningful: use New.
type Options struct {
	Source        string
	DryRun        bool
	Registry      string
	Image         string
	Repository    string
	Username      string
	TokenEnv      string
	SHA           string
	Ref           string
	Event         string
	DefaultBranch string
	Latest        string
	Severity      []string
	IgnoreUnfixed bool
	ReportDir     string
	ImagesFile    string
	EngineTimeout time.Duration
	AllowDirty    bool
	Platforms     []string
	SkipTests     bool
	Rerun         bool
	RunCache      string
}

// New returns options with defaults taken from the environment (getenv is
// os.Getenv outside tests), the way GitHub Actions provides them.
func New(getenv func(string) string) *Options {
	repo := getenv("GITHUB_REPOSITORY")
	platforms := []string{"linux/" + runtime.GOARCH}
	if getenv("GITHUB_ACTIONS") == "true" {
		platforms = []string{"linux/amd64", "linux/arm64"}
	}
	return &Options{
		Source:        ".",
		Registry:      or(getenv("GANTRY_REGISTRY"), "ghcr.io"),
		Image:         strings.ToLower(repo),
		Repository:    repo,
		Username:      getenv("GITHUB_ACTOR"),
		TokenEnv:      "GITHUB_TOKEN",
		SHA:           getenv("GITHUB_SHA"),
		Ref:           getenv("GITHUB_REF"),
		Event:         or(getenv("GITHUB_EVENT_NAME"), "push"),
		DefaultBranch: or(getenv("GANTRY_DEFAULT_BRANCH"), "main"),
		Latest:        LatestAuto,
		Severity:      []string{"HIGH", "CRITICAL"},
		ReportDir:     "reports",
		ImagesFile:    getenv("GANTRY_IMAGES"),
		EngineTimeout: 3 * time.Minute,
		Platforms:     platforms,
		RunCache:      getenv("GANTRY_RUN_CACHE"),
	}
}

// Bind registers every option as a flag on fs.
func (o *Options) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&o.Source, "source", o.Source, "repository root to build (holds the Dockerfile)")
	fs.BoolVar(&o.DryRun, "dry-run", o.DryRun, "run every stage but publish")
	fs.StringVar(&o.Registry, "registry", o.Registry, "registry host[:port] to publish to (env GANTRY_REGISTRY)")
	fs.StringVar(&o.Image, "image", o.Image, "image name in the registry, lower case (default: GITHUB_REPOSITORY lowercased)")
	fs.StringVar(&o.Repository, "repository", o.Repository, "OWNER/REPO on GitHub, for the source label (env GITHUB_REPOSITORY)")
	fs.StringVar(&o.Username, "username", o.Username, "registry user name (env GITHUB_ACTOR)")
	fs.StringVar(&o.TokenEnv, "token-env", o.TokenEnv, "name of the environment variable that holds the registry token")
	fs.StringVar(&o.SHA, "sha", o.SHA, "full commit SHA to build (env GITHUB_SHA, else git rev-parse HEAD)")
	fs.StringVar(&o.Ref, "ref", o.Ref, "git ref being built, e.g. refs/heads/main or refs/tags/v1.2.3 (env GITHUB_REF, else from git)")
	fs.StringVar(&o.Event, "event", o.Event, "triggering event; pull_request never publishes (env GITHUB_EVENT_NAME)")
	fs.StringVar(&o.DefaultBranch, "default-branch", o.DefaultBranch, "branch whose builds get the latest tag (env GANTRY_DEFAULT_BRANCH)")
	fs.StringVar(&o.Latest, "latest", o.Latest, "tag latest: auto (default branch or highest release), always, never")
	fs.StringSliceVar(&o.Severity, "severity", o.Severity, "severities that fail the scan ("+strings.Join(Severities, ",")+")")
	fs.BoolVar(&o.IgnoreUnfixed, "ignore-unfixed", o.IgnoreUnfixed, "ignore vulnerabilities without a fixed version")
	fs.StringVar(&o.ReportDir, "report-dir", o.ReportDir, "directory for scan reports")
	fs.StringVar(&o.ImagesFile, "images", o.ImagesFile, "JSON file overriding the pinned external images (env GANTRY_IMAGES)")
	fs.DurationVar(&o.EngineTimeout, "engine-timeout", o.EngineTimeout, "how long to wait for the Dagger engine")
	fs.BoolVar(&o.AllowDirty, "allow-dirty", o.AllowDirty, "publish even if the work tree has uncommitted changes")
	fs.StringSliceVar(&o.Platforms, "platform", o.Platforms, "platforms to build (default: linux/amd64,linux/arm64 in GitHub Actions, the host's otherwise)")
	fs.BoolVar(&o.SkipTests, "skip-tests", o.SkipTests, "skip the go vet / go test stage")
	fs.BoolVar(&o.Rerun, "rerun", o.Rerun, "run every stage even if a run with the same inputs already passed")
	fs.StringVar(&o.RunCache, "run-cache", o.RunCache, "directory of passed runs; \"off\" disables it (env GANTRY_RUN_CACHE; default: the user cache directory's gantry/runs)")
}

// Publishing reports whether this run pushes to a registry.
func (o *Options) Publishing() bool {
	return !o.DryRun && o.Event != "pull_request"
}

// UsageError is bad input: the program exits 2 and prints it on one line.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usage(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

var (
	shaRE      = regexp.MustCompile(`^[0-9a-f]{40}$`)
	repoRE     = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`) // GitHub's OWNER/REPO
	platformRE = regexp.MustCompile(`^linux/(amd64|arm64)$`)
)

// Validate checks every option; getenv reads the token variable. It returns
// a *UsageError naming the bad input and how to fix it.
func (o *Options) Validate(getenv func(string) string) error {
	if o.Source == "" {
		return usage("--source must not be empty: pass the repository root, e.g. --source .")
	}
	if len(o.Severity) == 0 {
		return usage("--severity must list at least one of %s", strings.Join(Severities, ","))
	}
	for i, s := range o.Severity {
		up := strings.ToUpper(strings.TrimSpace(s))
		if !slices.Contains(Severities, up) {
			return usage("--severity: unknown severity %q: use a comma-separated list of %s", s, strings.Join(Severities, ","))
		}
		o.Severity[i] = up
	}
	if _, err := name.NewRegistry(o.Registry, name.StrictValidation); err != nil {
		return usage("--registry: %q is not a registry host[:port], e.g. ghcr.io or localhost:5000", o.Registry)
	}
	switch o.Latest {
	case LatestAuto, LatestAlways, LatestNever:
	default:
		return usage("--latest: %q is not one of auto, always, never", o.Latest)
	}
	if o.SHA != "" && !shaRE.MatchString(o.SHA) {
		return usage("--sha: %q is not a full 40-character lower-case hex commit SHA", o.SHA)
	}
	if o.Repository != "" && !repoRE.MatchString(o.Repository) {
		return usage("--repository: %q is not OWNER/REPO", o.Repository)
	}
	if o.Ref != "" && !strings.HasPrefix(o.Ref, "refs/") {
		return usage("--ref: %q is not a full ref: use refs/heads/BRANCH or refs/tags/TAG", o.Ref)
	}
	if o.ReportDir == "" {
		return usage("--report-dir must not be empty")
	}
	if o.EngineTimeout <= 0 {
		return usage("--engine-timeout must be positive, e.g. 3m")
	}
	if len(o.Platforms) == 0 {
		return usage("--platform must list at least one platform, e.g. linux/amd64")
	}
	seen := map[string]bool{}
	for _, p := range o.Platforms {
		if !platformRE.MatchString(p) {
			return usage("--platform: %q is not supported: use linux/amd64 and/or linux/arm64", p)
		}
		if seen[p] {
			return usage("--platform: %q is listed twice", p)
		}
		seen[p] = true
	}
	if o.Image != "" {
		if err := o.checkImage(o.Image); err != nil {
			if lower := strings.ToLower(o.Image); lower != o.Image && o.checkImage(lower) == nil {
				return usage("--image: %q has upper-case letters; registries require lower case: use %q", o.Image, lower)
			}
			return usage("--image: %q is not a valid image name (%v): use lower-case path components like owner/app", o.Image, err)
		}
	}
	if !o.Publishing() {
		return nil
	}
	if o.Image == "" {
		return usage("--image is required when publishing: pass --image owner/app, set GITHUB_REPOSITORY, or use --dry-run")
	}
	if o.TokenEnv == "" {
		return usage("--token-env must name an environment variable")
	}
	if getenv(o.TokenEnv) == "" {
		return usage("publishing needs a registry token in $%s: set it, choose another variable with --token-env, or use --dry-run", o.TokenEnv)
	}
	if o.Username == "" {
		return usage("publishing needs a registry user name: pass --username or set GITHUB_ACTOR")
	}
	return nil
}

// checkImage parses image as a repository on --registry: go-containerregistry
// (which pushes it) splits and checks it, and distribution's reference
// grammar, which registries enforce, checks each path component (name
// accepts "owner//app").
func (o *Options) checkImage(image string) error {
	repo, err := name.NewRepository(o.Registry+"/"+image, name.StrictValidation)
	if err != nil {
		return err
	}
	if repo.RegistryStr() != o.Registry || repo.RepositoryStr() != image {
		return fmt.Errorf("it does not name a repository on %s; pass the registry host with --registry", o.Registry)
	}
	ref, err := reference.ParseNamed(o.Registry + "/" + image)
	if err != nil {
		return err
	}
	if _, tagged := ref.(reference.Tagged); tagged {
		return fmt.Errorf("it carries a tag; Gantry decides the tags")
	}
	return nil
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
