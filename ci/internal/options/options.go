// Package options holds the pipeline's command-line options: one struct bound
// to flags (with environment fallbacks) and one Validate that checks every
// input before the pipeline connects to an engine.
package options

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"

	"github.com/gantry-ci/gantry/ci/internal/imageref"
	"github.com/gantry-ci/gantry/ci/internal/layercache"
	"github.com/gantry-ci/gantry/ci/internal/platforms"
	"github.com/gantry-ci/gantry/ci/internal/signing"
	"github.com/gantry-ci/gantry/ci/internal/tags"
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
	MaxDBAge      time.Duration
	ReportDir     string
	// UploadSARIF uploads the scan's SARIF reports to the repository's
	// code scanning (GitHub's API at APIURL), with the token.
	UploadSARIF bool
	APIURL      string
	// Output is how the run reports on stdout: "text" (progress and a
	// Markdown summary) or "json" (only the run report; the rest goes to
	// stderr).
	Output        string
	ImagesFile    string
	EngineTimeout time.Duration
	AllowDirty    bool
	Platforms     []string
	SkipTests     bool
	Rerun         bool
	RunCache      string
	Sign          string
	SignKey       string
	FulcioURL     string
	RekorURL      string
	// CARoots and IgnoreSCT are how a keyless release verifies the image
	// it would promote, when --fulcio-url is a private Sigstore; Roots is
	// the file's content, read by Validate.
	CARoots   string
	IgnoreSCT bool
	Roots     []byte
	// RekorKeyFile is the public key of a private Sigstore's Rekor, for the
	// same check; RekorKey is its content, read by Validate.
	RekorKeyFile string
	RekorKey     []byte
	LayerCache   string
	// TestModules are the Go modules the test stage vets and tests:
	// directories under Source, slash-separated, "." for the root.
	TestModules []string

	// rekorChosen says GANTRY_REKOR_URL was set; flags is where Bind put
	// the flags, to ask whether --rekor-url was given.
	rekorChosen bool
	flags       *pflag.FlagSet
}

// Sigstore's public-good instance, where keyless signatures go by default.
const (
	DefaultFulcioURL = "https://fulcio.sigstore.dev"
	DefaultRekorURL  = "https://rekor.sigstore.dev"
)

// Declared are the defaults a project declares (gantry.Project) for what
// flags can change for one run.
type Declared struct {
	TestModules   []string // the Go modules it tests
	Severity      []string // the severities that fail the scan; nil for HIGH, CRITICAL
	IgnoreUnfixed bool
	// Platforms are built in GitHub Actions; nil for linux/amd64 and
	// linux/arm64. Elsewhere the host's is.
	Platforms []string
}

// New returns options with defaults taken from the environment (getenv is
// os.Getenv outside tests), the way GitHub Actions provides them, and from
// the project's declaration.
func New(getenv func(string) string, d Declared) *Options {
	repo := getenv("GITHUB_REPOSITORY")
	platforms := []string{"linux/" + runtime.GOARCH}
	if getenv("GITHUB_ACTIONS") == "true" {
		platforms = []string{"linux/amd64", "linux/arm64"}
		if len(d.Platforms) > 0 {
			platforms = slices.Clone(d.Platforms)
		}
	}
	o := &Options{
		Source:        ".",
		Registry:      cmp.Or(getenv("GANTRY_REGISTRY"), "ghcr.io"),
		Image:         strings.ToLower(repo),
		Repository:    repo,
		Username:      getenv("GITHUB_ACTOR"),
		TokenEnv:      "GITHUB_TOKEN",
		SHA:           getenv("GITHUB_SHA"),
		Ref:           getenv("GITHUB_REF"),
		Event:         cmp.Or(getenv("GITHUB_EVENT_NAME"), "push"),
		DefaultBranch: cmp.Or(getenv("GANTRY_DEFAULT_BRANCH"), "main"),
		Latest:        LatestAuto,
		Severity:      []string{"HIGH", "CRITICAL"},
		IgnoreUnfixed: d.IgnoreUnfixed,
		MaxDBAge:      72 * time.Hour,
		ReportDir:     "reports",
		Output:        "text",
		UploadSARIF:   getenv("GANTRY_UPLOAD_SARIF") == "true",
		APIURL:        cmp.Or(getenv("GITHUB_API_URL"), "https://api.github.com"),
		ImagesFile:    getenv("GANTRY_IMAGES"),
		EngineTimeout: 3 * time.Minute,
		Platforms:     platforms,
		RunCache:      getenv("GANTRY_RUN_CACHE"),
		Sign:          cmp.Or(getenv("GANTRY_SIGN"), signing.Auto),
		FulcioURL:     cmp.Or(getenv("GANTRY_FULCIO_URL"), DefaultFulcioURL),
		RekorURL:      cmp.Or(getenv("GANTRY_REKOR_URL"), DefaultRekorURL),
		CARoots:       getenv("GANTRY_CA_ROOTS"),
		RekorKeyFile:  getenv("GANTRY_REKOR_KEY"),
		LayerCache:    getenv("GANTRY_LAYER_CACHE"),
		TestModules:   slices.Clone(d.TestModules),
		rekorChosen:   getenv("GANTRY_REKOR_URL") != "",
	}
	if len(d.Severity) > 0 {
		o.Severity = slices.Clone(d.Severity)
	}
	if v := getenv("GANTRY_TEST_MODULES"); v != "" {
		o.TestModules = strings.Split(v, ",")
	}
	return o
}

// Bind registers every option as a flag on fs.
func (o *Options) Bind(fs *pflag.FlagSet) {
	o.flags = fs
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
	fs.DurationVar(&o.MaxDBAge, "max-db-age", o.MaxDBAge, "oldest Trivy DB the scan accepts, by its update time (an older one fails the scan, exit 7)")
	fs.StringVar(&o.ReportDir, "report-dir", o.ReportDir, "directory for the reports: the scan's, and run.json")
	fs.BoolVar(&o.UploadSARIF, "upload-sarif", o.UploadSARIF, "upload the scan's findings to the repository's code scanning (needs the token with security-events: write; env GANTRY_UPLOAD_SARIF=true); a failed upload is a warning")
	fs.StringVar(&o.Output, "output", o.Output, "stdout: text (progress and a summary), or json (the run report alone; progress goes to stderr)")
	fs.StringVar(&o.ImagesFile, "images", o.ImagesFile, "JSON file overriding the pinned external images (env GANTRY_IMAGES)")
	fs.DurationVar(&o.EngineTimeout, "engine-timeout", o.EngineTimeout, "how long to wait for the Dagger engine")
	fs.BoolVar(&o.AllowDirty, "allow-dirty", o.AllowDirty, "publish even if the work tree has uncommitted changes")
	fs.StringSliceVar(&o.Platforms, "platform", o.Platforms, "platforms to build (default: gantry.Build.Platforms, else linux/amd64,linux/arm64, in GitHub Actions; the host's otherwise)")
	fs.BoolVar(&o.SkipTests, "skip-tests", o.SkipTests, "skip the go vet / go test stage")
	fs.BoolVar(&o.Rerun, "rerun", o.Rerun, "run every stage even if a run with the same inputs already passed")
	fs.StringVar(&o.Sign, "sign", o.Sign, "sign and attest what is published: auto (a key if --sign-key is given, else keyless where GitHub's OIDC token is available), key, keyless, off (env GANTRY_SIGN)")
	fs.StringVar(&o.FulcioURL, "fulcio-url", o.FulcioURL, "keyless: the Fulcio that certifies the OIDC identity (env GANTRY_FULCIO_URL)")
	fs.StringVar(&o.RekorURL, "rekor-url", o.RekorURL, "keyless: the Rekor transparency log, or \"off\" for none (env GANTRY_REKOR_URL)")
	fs.StringVar(&o.CARoots, "ca-roots", o.CARoots, "keyless promotion: PEM file of the Fulcio certificates to trust, when --fulcio-url is not Sigstore's (env GANTRY_CA_ROOTS)")
	fs.StringVar(&o.RekorKeyFile, "rekor-key", o.RekorKeyFile, "keyless promotion: PEM public key of --rekor-url's log, with --ca-roots (env GANTRY_REKOR_KEY)")
	fs.BoolVar(&o.IgnoreSCT, "insecure-ignore-sct", o.IgnoreSCT, "keyless promotion: accept certificates without a CT log timestamp (a private Fulcio without a CT log)")
	fs.StringVar(&o.SignKey, "sign-key", o.SignKey, "cosign private key to sign with: a file, or env://VAR; its password in COSIGN_PASSWORD")
	fs.StringVar(&o.LayerCache, "layer-cache", o.LayerCache, "registry REF:TAG of the engine's layer cache, which a publishing run only writes and any other run only reads, or \"off\" (env GANTRY_LAYER_CACHE; default in GitHub Actions: REGISTRY/IMAGE:buildcache)")
	fs.StringSliceVar(&o.TestModules, "test-modules", o.TestModules, "Go modules the test stage vets and tests: directories under --source, \".\" for the root (env GANTRY_TEST_MODULES)")
	fs.StringVar(&o.RunCache, "run-cache", o.RunCache, "directory of passed runs; \"off\" disables it (env GANTRY_RUN_CACHE; default: the user cache directory's gantry/runs)")
}

// checkTestModules cleans --test-modules and checks that each is a
// directory inside --source (that it holds a module is checked with the
// source's other files).
func (o *Options) checkTestModules() error {
	seen := map[string]bool{}
	for i, m := range o.TestModules {
		clean := path.Clean(filepath.ToSlash(strings.TrimSpace(m)))
		if m == "" || path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return usage("--test-modules: %q is not a directory inside --source: give it relative to the repository root, e.g. . or services/api", m)
		}
		if seen[clean] {
			return usage("--test-modules: %q is listed twice", m)
		}
		seen[clean] = true
		o.TestModules[i] = clean
	}
	return nil
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkServiceURL checks a Sigstore service's URL: http(s)://host[:port],
// or "off" where that is allowed.
func checkServiceURL(flag, v string, offOK bool) error {
	if offOK && v == "off" {
		return nil
	}
	u, err := url.Parse(v)
	if err == nil && u.User != nil {
		// Not repeated: the part before @ may be a password.
		return usage("%s: the URL holds credentials; Sigstore services take none in the URL: drop the user:password@ part", flag)
	}
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		hint := "an https:// URL such as " + DefaultFulcioURL
		if offOK {
			hint = `an https:// URL such as ` + DefaultRekorURL + `, or "off"`
		}
		return usage("%s: %q is not %s", flag, v, hint)
	}
	return nil
}

// RekorOff reports whether keyless signatures skip the transparency log.
func (o *Options) RekorOff() bool { return o.RekorURL == "off" }

// RekorDefault reports whether keyless signatures go to Sigstore's public
// log only by default: neither --rekor-url nor GANTRY_REKOR_URL chose it.
func (o *Options) RekorDefault() bool {
	chosen := o.rekorChosen || (o.flags != nil && o.flags.Changed("rekor-url"))
	return !chosen && o.RekorURL == DefaultRekorURL
}

// Publishing reports whether this run pushes to a registry.
func (o *Options) Publishing() bool {
	return !o.DryRun && !tags.PullRequest(o.Event, o.Ref)
}

// Events are the names GitHub Actions gives the events that start a
// workflow (GITHUB_EVENT_NAME).
var Events = []string{
	"branch_protection_rule", "check_run", "check_suite", "create", "delete", "deployment",
	"deployment_status", "discussion", "discussion_comment", "fork", "gollum", "issue_comment",
	"issues", "label", "merge_group", "milestone", "page_build", "public", "pull_request",
	"pull_request_review", "pull_request_review_comment", "pull_request_target", "push",
	"registry_package", "release", "repository_dispatch", "schedule", "status", "watch",
	"workflow_call", "workflow_dispatch", "workflow_run",
}

// UsageError is bad input: the program exits 2 and prints it on one line.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usage(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

var (
	shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	// GitHub's rules: an owner is 1-39 letters, digits and single inner
	// hyphens; a repository 1-100 letters, digits, '.', '-' and '_'.
	ownerRE    = regexp.MustCompile(`^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$`)
	repoNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	// POSIX: what a shell can name, and so what a workflow can set.
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks every option; getenv reads the token variable. It returns
// a *UsageError naming the bad input and how to fix it.
func (o *Options) Validate(getenv func(string) string) error {
	if o.Source == "" {
		return usage("--source must not be empty: pass the repository root, e.g. --source .")
	}
	if err := checkSeverity(o.Severity); err != nil {
		return err
	}
	if err := o.checkTestModules(); err != nil {
		return err
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
	if o.Repository != "" {
		if err := checkRepository(o.Repository); err != nil {
			return usage("--repository: %q is not a GitHub OWNER/REPO: %v", o.Repository, err)
		}
	}
	if !slices.Contains(Events, o.Event) {
		return usage("--event: %q is not a GitHub Actions event name: use push, pull_request, workflow_dispatch, schedule, ...", o.Event)
	}
	if err := checkBranch(o.DefaultBranch); err != nil {
		return usage("--default-branch: %q is not a valid branch name (%v): pass the branch's name, e.g. main", o.DefaultBranch, err)
	}
	if o.Ref != "" && !strings.HasPrefix(o.Ref, "refs/") {
		return usage("--ref: %q is not a full ref: use refs/heads/BRANCH or refs/tags/TAG", o.Ref)
	}
	if o.ReportDir == "" {
		return usage("--report-dir must not be empty")
	}
	if o.Output != "text" && o.Output != "json" {
		return usage("--output %q: want text or json", o.Output)
	}
	if o.UploadSARIF && (o.Repository == "" || getenv(o.TokenEnv) == "") {
		return usage("--upload-sarif needs --repository OWNER/REPO and a token in $%s with security-events: write", o.TokenEnv)
	}
	if u, err := url.Parse(o.APIURL); o.UploadSARIF && (err != nil || u.Host == "" || u.User != nil ||
		(u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname())))) {
		// The upload carries the token: plain HTTP only to this machine.
		// Not repeated: it may hold credentials.
		return usage("GITHUB_API_URL is not an https URL without credentials (plain http only on loopback), e.g. https://api.github.com")
	}
	if o.EngineTimeout <= 0 {
		return usage("--engine-timeout must be positive, e.g. 3m")
	}
	if o.MaxDBAge <= 0 {
		return usage("--max-db-age must be positive, e.g. 72h")
	}
	if len(o.Platforms) == 0 {
		return usage("--platform must list at least one platform, e.g. linux/amd64")
	}
	seen := map[string]bool{}
	for _, p := range o.Platforms {
		if _, err := platforms.Parse(p); err != nil {
			return usage("--platform: %v", err)
		}
		if seen[p] {
			return usage("--platform: %q is listed twice", p)
		}
		seen[p] = true
	}
	if o.Image != "" {
		// Docker reads a first component with a dot or a colon, or
		// localhost, as a registry host: ghcr.io/owner/app would otherwise
		// publish to ghcr.io/ghcr.io/owner/app.
		if host, rest, ok := strings.Cut(o.Image, "/"); ok && (strings.ContainsAny(host, ".:") || host == "localhost") {
			return usage("--image: %q starts with the registry host %s: pass it on its own, --registry %s --image %s", o.Image, host, host, rest)
		}
		if err := o.checkImage(o.Image); err != nil {
			if lower := strings.ToLower(o.Image); lower != o.Image && o.checkImage(lower) == nil {
				return usage("--image: %q has upper-case letters; registries require lower case: use %q", o.Image, lower)
			}
			return usage("--image: %q is not a valid image name (%v): use lower-case path components like owner/app", o.Image, err)
		}
	}
	if !slices.Contains(signing.Modes, o.Sign) {
		return usage("--sign: %q is not one of %s", o.Sign, strings.Join(signing.Modes, ", "))
	}
	if o.Sign == signing.Off && o.SignKey != "" {
		return usage("--sign off and --sign-key contradict each other: drop one")
	}
	if o.Sign == signing.Keyless && o.SignKey != "" {
		return usage("--sign keyless and --sign-key contradict each other: drop one")
	}
	if o.LayerCache == "" {
		// Where every runner starts empty, the cache lives next to the
		// image; elsewhere the engine's own cache is warm already.
		o.LayerCache = "off"
		if getenv("GITHUB_ACTIONS") == "true" && o.Image != "" {
			o.LayerCache = o.Registry + "/" + o.Image + ":" + layercache.DefaultTag
		}
	}
	if o.LayerCache != "off" {
		if _, err := name.NewTag(o.LayerCache, name.StrictValidation); err != nil || imageref.Tag(o.LayerCache) == "" {
			return usage("--layer-cache: %q is not a registry/name:tag reference (e.g. ghcr.io/owner/app:buildcache), or \"off\"", o.LayerCache)
		}
	}
	if err := checkServiceURL("--fulcio-url", o.FulcioURL, false); err != nil {
		return err
	}
	if err := checkServiceURL("--rekor-url", o.RekorURL, true); err != nil {
		return err
	}
	if o.CARoots != "" || o.IgnoreSCT || o.RekorKeyFile != "" {
		switch {
		case o.SignKey != "":
			return usage("--ca-roots, --rekor-key and --insecure-ignore-sct are for keyless signing, not --sign-key: drop them")
		case o.Sign == signing.Key || o.Sign == signing.Off:
			return usage("--ca-roots, --rekor-key and --insecure-ignore-sct are for keyless signing, not --sign %s: drop them", o.Sign)
		}
	}
	var err error
	if o.Roots, err = readRoots(o.CARoots); err != nil {
		return err
	}
	if o.RekorKeyFile != "" {
		switch {
		case o.RekorOff():
			return usage("--rekor-key with --rekor-url off: there is no log to check signatures against: drop one of them")
		case o.CARoots == "":
			return usage("--rekor-key is for a private Sigstore: pass its Fulcio's roots with --ca-roots too")
		}
		if o.RekorKey, err = readPublicKey("--rekor-key", o.RekorKeyFile, "the Rekor's key, from its /api/v1/log/publicKey"); err != nil {
			return err
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
	if !envNameRE.MatchString(o.TokenEnv) {
		// Not repeated: a value that is no name may be the token itself.
		return usage("--token-env is not an environment variable name: pass the variable's name (letters, digits and _, not starting with a digit), not its value")
	}
	if getenv(o.TokenEnv) == "" {
		return usage("publishing needs a registry token in $%s: set it, choose another variable with --token-env, or use --dry-run", redact(o.TokenEnv))
	}
	if o.Username == "" {
		return usage("publishing needs a registry user name: pass --username or set GITHUB_ACTOR")
	}
	if o.SkipTests {
		return usage("--skip-tests can't be used when publishing: a published image has passed its tests; use --dry-run to skip them")
	}
	return nil
}

// checkRepository applies GitHub's rules for OWNER/REPO.
func checkRepository(r string) error {
	owner, repo, ok := strings.Cut(r, "/")
	switch {
	case !ok || strings.Contains(repo, "/"):
		return fmt.Errorf("want exactly one /")
	case len(owner) > 39 || !ownerRE.MatchString(owner):
		return fmt.Errorf("the owner has 1-39 letters, digits and inner hyphens")
	case repo == "." || repo == ".." || !repoNameRE.MatchString(repo):
		return fmt.Errorf("the repository name has 1-100 letters, digits, '.', '-' and '_', and is not . or ..")
	}
	return nil
}

// checkBranch asks git, whose rules these are, whether name is a branch
// name.
func checkBranch(name string) error {
	if name == "" || strings.HasPrefix(name, "-") {
		return fmt.Errorf("empty, or starts with -")
	}
	out, err := exec.Command("git", "check-ref-format", "refs/heads/"+name).CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("git check-ref-format refuses it")
		}
		return fmt.Errorf("running git check-ref-format: %v %s", err, out)
	}
	return nil
}

// redact keeps what is probably a secret out of an error message: a value
// given where a variable's name belongs may be the token itself.
func redact(s string) string {
	for _, p := range []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-"} {
		if strings.HasPrefix(s, p) {
			return "(a value that looks like a token)"
		}
	}
	if len(s) >= 40 {
		return "(a value that looks like a token)"
	}
	return s
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
