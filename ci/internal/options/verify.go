package options

import (
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

	"github.com/gantry-ci/gantry/ci/internal/verify"
)

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
	Username      string
	TokenEnv      string
	ImagesFile    string
	EngineTimeout time.Duration
}

// NewVerify returns verify's options with defaults from the environment.
func NewVerify(getenv func(string) string) *Verify {
	return &Verify{
		Repository:    getenv("GITHUB_REPOSITORY"),
		Keyless:       verify.Keyless{Issuer: verify.GitHubIssuer},
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
	fs.StringVar(&v.Keyless.Identity, "certificate-identity", "", "keyless: the signer's identity, e.g. https://github.com/OWNER/REPO/.github/workflows/ci.yml@refs/heads/main")
	fs.StringVar(&v.Keyless.IdentityRegexp, "certificate-identity-regexp", "", "keyless: a pattern the signer's identity must match (default: any workflow of --repository)")
	fs.StringVar(&v.Keyless.Issuer, "certificate-oidc-issuer", v.Keyless.Issuer, "keyless: the signer's OIDC issuer")
	fs.StringVar(&v.CARoots, "ca-roots", "", "keyless: PEM file of the Fulcio certificates to trust, for a private Sigstore (default: Sigstore's public roots)")
	fs.BoolVar(&v.Keyless.IgnoreSCT, "insecure-ignore-sct", false, "keyless: accept certificates without a CT log timestamp (a Fulcio without a CT log)")
	fs.BoolVar(&v.Keyless.IgnoreTlog, "insecure-ignore-tlog", false, "keyless: accept signatures that are not in a transparency log")
	fs.StringVar(&v.RekorKeyFile, "rekor-key", "", "keyless, with --ca-roots: PEM public key of the private Sigstore's Rekor")
	fs.StringVar(&v.Repository, "repository", v.Repository, "OWNER/REPO on GitHub the provenance must name (env GITHUB_REPOSITORY)")
	fs.StringVar(&v.Commit, "commit", v.Commit, "full commit SHA the provenance must name (default: any, and it is printed)")
	fs.StringSliceVar(&v.Severity, "severity", v.Severity, "severities that fail the newest scan ("+strings.Join(Severities, ",")+")")
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
	keyless := k.Identity != "" || k.IdentityRegexp != "" || v.CARoots != "" || v.RekorKeyFile != "" || k.IgnoreSCT || k.IgnoreTlog
	if v.Key != "" {
		if keyless {
			return usage("--key and the keyless flags (--certificate-*, --ca-roots, --rekor-key, --insecure-ignore-*) contradict each other: verify a key or an identity")
		}
		var err error
		v.PublicKey, err = readPublicKey("--key", v.Key, "cosign.pub from `cosign generate-key-pair`, not the private key")
		return err
	}
	if k.Identity != "" && k.IdentityRegexp != "" {
		return usage("--certificate-identity and --certificate-identity-regexp contradict each other: pass one")
	}
	if k.IdentityRegexp != "" {
		if _, err := regexp.Compile(k.IdentityRegexp); err != nil {
			return usage("--certificate-identity-regexp: %v", err)
		}
	}
	if k.Identity == "" && k.IdentityRegexp == "" {
		// Any workflow of the repository, at any ref.
		k.IdentityRegexp = "^" + regexp.QuoteMeta("https://github.com/"+v.Repository+"/.github/workflows/") + "[^@]+@refs/"
	}
	if u, err := url.Parse(k.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return usage("--certificate-oidc-issuer: %q is not an issuer URL such as %s", k.Issuer, verify.GitHubIssuer)
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
