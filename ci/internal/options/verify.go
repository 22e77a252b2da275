package options

import (
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"

	"github.com/gantry-ci/gantry/ci/internal/identity"
	"github.com/gantry-ci/gantry/ci/internal/verify"
)

// VerifyAbout says what verifying checks, for --help.
const VerifyAbout = "Checks that IMAGE (a tag or a digest) is signed by --key, or keylessly by a workflow of\n--repository (or --certificate-identity), that its provenance names --repository (and\n--commit), and that its newest scan passes --severity."

// Verify are the options of `go run ./ci verify IMAGE`.
type Verify struct {
	Image string // the argument: a tag or a digest
	Key   string
	// Keyless is the signer when there is no --key; Validate fills in
	// its defaults and reads --ca-roots into it.
	Keyless      verify.Keyless
	CARoots      string
	RekorKeyFile string
	// PublicKey is --key's content, read by Validate.
	PublicKey     []byte
	Repository    string
	Commit        string
	Severity      []string
	MaxScanAge    time.Duration
	Username      string
	TokenEnv      string
	ImagesFile    string
	EngineTimeout time.Duration
	// DefaultBranch is the branch whose pushes sign (with release tags),
	// unless --certificate-github-workflow-ref names one ref.
	DefaultBranch string

	flags *pflag.FlagSet // to ask which keyless flags were given
}

// NewVerify returns verify's options with defaults from the environment.
func NewVerify(getenv func(string) string) *Verify {
	return &Verify{
		Repository:    getenv("GITHUB_REPOSITORY"),
		Keyless:       verify.Keyless{Policy: identity.Policy{Issuer: identity.GitHubIssuer, Trigger: identity.Push}},
		DefaultBranch: cmp.Or(getenv("GANTRY_DEFAULT_BRANCH"), "main"),
		Severity:      []string{"HIGH", "CRITICAL"},
		Username:      getenv("GITHUB_ACTOR"),
		TokenEnv:      "GITHUB_TOKEN",
		ImagesFile:    getenv("GANTRY_IMAGES"),
		EngineTimeout: 3 * time.Minute,
	}
}

// Bind registers verify's flags on fs.
func (v *Verify) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&v.Key, "key", v.Key, "PEM public key the image must be signed with (cosign.pub); without it, keyless")
	v.flags = fs
	p := &v.Keyless.Policy
	fs.StringVar(&v.Keyless.Subject, "certificate-identity", "", "keyless: the signer's exact identity, e.g. https://github.com/OWNER/REPO/.github/workflows/ci.yml@refs/heads/main")
	fs.StringVar(&v.Keyless.SubjectRegexp, "certificate-identity-regexp", "", "keyless: a pattern the signer's identity must match (default: any workflow of --repository)")
	fs.StringVar(&p.Issuer, "certificate-oidc-issuer", p.Issuer, "keyless: the signer's OIDC issuer")
	fs.StringVar(&p.Repository, "certificate-github-workflow-repository", "", "keyless: OWNER/REPO the certificate must name (default: --repository)")
	fs.StringVar(&p.RepositoryID, "certificate-github-repository-id", "", "keyless: GitHub's numeric ID of the repository, which the certificate must name where it carries one (default: any; not a cosign flag)")
	fs.StringVar(&p.Trigger, "certificate-github-workflow-trigger", p.Trigger, "keyless: the event that started the signing run")
	fs.StringVar(&p.Ref, "certificate-github-workflow-ref", "", "keyless: the exact ref of the signing run (default: refs/heads/--default-branch or a release tag refs/tags/vX.Y.Z)")
	fs.StringVar(&p.SHA, "certificate-github-workflow-sha", "", "keyless: the commit of the signing run (default: --commit, else any)")
	fs.StringVar(&p.Name, "certificate-github-workflow-name", "", "keyless: the signing workflow's name (default: any)")
	fs.StringVar(&v.DefaultBranch, "default-branch", v.DefaultBranch, "keyless: the branch whose pushes sign (env GANTRY_DEFAULT_BRANCH)")
	fs.StringVar(&v.CARoots, "ca-roots", "", "keyless: PEM file of the Fulcio certificates to trust, for a private Sigstore (default: Sigstore's public roots)")
	fs.BoolVar(&v.Keyless.IgnoreSCT, "insecure-ignore-sct", false, "keyless: accept certificates without a CT log timestamp (a Fulcio without a CT log)")
	fs.BoolVar(&v.Keyless.IgnoreTlog, "insecure-ignore-tlog", false, "keyless: accept signatures that are not in a transparency log")
	fs.StringVar(&v.RekorKeyFile, "rekor-key", "", "keyless, with --ca-roots: PEM public key of the private Sigstore's Rekor")
	fs.StringVar(&v.Repository, "repository", v.Repository, "OWNER/REPO on GitHub the provenance must name (env GITHUB_REPOSITORY)")
	fs.StringVar(&v.Commit, "commit", v.Commit, "full commit SHA the provenance must name (default: any, and it is printed)")
	fs.StringSliceVar(&v.Severity, "severity", v.Severity, "severities that fail the newest scan ("+strings.Join(Severities, ",")+")")
	fs.DurationVar(&v.MaxScanAge, "max-scan-age", 0, "fail if the newest scan is older than this, e.g. 168h (default: any age)")
	fs.StringVar(&v.Username, "username", v.Username, "registry user name, for a private image (env GITHUB_ACTOR)")
	fs.StringVar(&v.TokenEnv, "token-env", v.TokenEnv, "variable holding the registry token, for a private image; unset: anonymous")
	fs.StringVar(&v.ImagesFile, "images", v.ImagesFile, "JSON file overriding the pinned external images (env GANTRY_IMAGES)")
	fs.DurationVar(&v.EngineTimeout, "engine-timeout", v.EngineTimeout, "how long to wait for the Dagger engine")
}

// Validate checks every option and reads the key; getenv reads the token
// variable.
func (v *Verify) Validate(getenv func(string) string) error {
	if _, err := name.ParseReference(v.Image, name.StrictValidation); err != nil {
		return usage("verify: %q is not an image reference (%v): pass registry/name:tag or registry/name@sha256:...", v.Image, err)
	}
	if v.Repository == "" {
		return usage("verify needs --repository OWNER/REPO (or GITHUB_REPOSITORY): the repository the image must be built from")
	}
	if err := checkRepository(v.Repository); err != nil {
		return usage("--repository: %q is not a GitHub OWNER/REPO: %v", v.Repository, err)
	}
	if err := v.checkSigner(); err != nil {
		return err
	}
	if v.Commit != "" && !shaRE.MatchString(v.Commit) {
		return usage("--commit: %q is not a full 40-character lower-case hex commit SHA", v.Commit)
	}
	if v.MaxScanAge < 0 {
		return usage("--max-scan-age must not be negative, e.g. 168h")
	}
	if err := checkSeverity(v.Severity); err != nil {
		return err
	}
	if v.TokenEnv != "" && !envNameRE.MatchString(v.TokenEnv) {
		return usage("--token-env is not an environment variable name: pass the variable's name, not its value")
	}
	if v.TokenEnv != "" && getenv(v.TokenEnv) != "" && v.Username == "" {
		return usage("a registry token is set in $%s but no user name: pass --username or set GITHUB_ACTOR", v.TokenEnv)
	}
	if v.EngineTimeout <= 0 {
		return usage("--engine-timeout must be positive, e.g. 3m")
	}
	return nil
}

// checkSigner reads --key, or checks the keyless policy and reads
// --ca-roots.
func (v *Verify) checkSigner() error {
	k := &v.Keyless
	keyless := v.CARoots != "" || v.RekorKeyFile != "" || k.IgnoreSCT || k.IgnoreTlog
	for _, f := range keylessFlags {
		keyless = keyless || (v.flags != nil && v.flags.Changed(f))
	}
	if v.Key != "" {
		if keyless {
			return usage("--key and the keyless flags (--certificate-*, --ca-roots, --rekor-key, --insecure-ignore-*) contradict each other: verify a key or an identity")
		}
		var err error
		v.PublicKey, err = readPublicKey("--key", v.Key, "cosign.pub from `cosign generate-key-pair`, not the private key")
		return err
	}
	if k.Subject != "" && k.SubjectRegexp != "" {
		return usage("--certificate-identity and --certificate-identity-regexp contradict each other: pass one")
	}
	if k.SubjectRegexp != "" {
		if _, err := regexp.Compile(k.SubjectRegexp); err != nil {
			return usage("--certificate-identity-regexp: %v", err)
		}
	}
	p := &k.Policy
	if u, err := url.Parse(p.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return usage("--certificate-oidc-issuer: %q is not an issuer URL such as %s", p.Issuer, identity.GitHubIssuer)
	}
	p.Repository = cmp.Or(p.Repository, v.Repository)
	if err := checkRepository(p.Repository); err != nil {
		return usage("--certificate-github-workflow-repository: %q is not a GitHub OWNER/REPO: %v", p.Repository, err)
	}
	if p.RepositoryID != "" && !repositoryIDRE.MatchString(p.RepositoryID) {
		return usage("--certificate-github-repository-id: %q is not a numeric repository ID: take it from `gh api repos/OWNER/REPO --jq .id`", p.RepositoryID)
	}
	if p.Trigger == "" {
		return usage("--certificate-github-workflow-trigger must not be empty: the event of the signing run, e.g. push")
	}
	if p.Ref != "" && !strings.HasPrefix(p.Ref, "refs/") {
		return usage("--certificate-github-workflow-ref: %q is not a full ref: use refs/heads/BRANCH or refs/tags/TAG", p.Ref)
	}
	if err := checkBranch(v.DefaultBranch); err != nil {
		return usage("--default-branch: %q is not a valid branch name (%v): pass the branch's name, e.g. main", v.DefaultBranch, err)
	}
	p.DefaultBranch = v.DefaultBranch
	p.SHA = cmp.Or(p.SHA, v.Commit)
	if p.SHA != "" && !shaRE.MatchString(p.SHA) {
		return usage("--certificate-github-workflow-sha: %q is not a full 40-character lower-case hex commit SHA", p.SHA)
	}
	if v.Commit != "" && p.SHA != v.Commit {
		return usage("--commit %s and --certificate-github-workflow-sha %s contradict each other: pass one", v.Commit, p.SHA)
	}
	var err error
	if k.Roots, err = readRoots(v.CARoots); err != nil || v.RekorKeyFile == "" {
		return err
	}
	switch {
	case k.IgnoreTlog:
		return usage("--rekor-key and --insecure-ignore-tlog contradict each other: check the log with its key, or not at all")
	case v.CARoots == "":
		return usage("--rekor-key is for a private Sigstore: pass its Fulcio's roots with --ca-roots too")
	}
	k.RekorKey, err = readPublicKey("--rekor-key", v.RekorKeyFile, "the Rekor's key, from its /api/v1/log/publicKey")
	return err
}

// repositoryIDRE is GitHub's numeric repository ID.
var repositoryIDRE = regexp.MustCompile(`^[1-9][0-9]*$`)

// keylessFlags are the flags that only a keyless verification takes.
var keylessFlags = []string{"certificate-identity", "certificate-identity-regexp", "certificate-oidc-issuer",
	"certificate-github-workflow-repository", "certificate-github-repository-id", "certificate-github-workflow-trigger", "certificate-github-workflow-ref",
	"certificate-github-workflow-sha", "certificate-github-workflow-name"}

// readPublicKey reads a PEM public key file for flag; want says what to
// pass instead of something else.
func readPublicKey(flag, path, want string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usage("%s: %v", flag, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, usage("%s %s: not a PEM public key: pass %s", flag, path, want)
	}
	if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		return nil, usage("%s %s: %v", flag, path, err)
	}
	return data, nil
}

// readRoots reads --ca-roots, a PEM file of Fulcio certificates ("": none).
func readRoots(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usage("--ca-roots: %v", err)
	}
	if block, _ := pem.Decode(data); block == nil || block.Type != "CERTIFICATE" {
		return nil, usage("--ca-roots %s: no PEM certificate in it: pass the Fulcio root (and intermediates) as PEM", path)
	}
	return data, nil
}

// checkSeverity validates and upper-cases a severity list in place.
func checkSeverity(sev []string) error {
	if len(sev) == 0 {
		return usage("--severity must list at least one of %s", strings.Join(Severities, ","))
	}
	for i, s := range sev {
		up := strings.ToUpper(strings.TrimSpace(s))
		if !slices.Contains(Severities, up) {
			return usage("--severity: unknown severity %q: use a comma-separated list of %s", s, strings.Join(Severities, ","))
		}
		sev[i] = up
	}
	return nil
}
