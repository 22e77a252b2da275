package options

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"
)

// Verify are the options of `go run ./ci verify IMAGE`.
type Verify struct {
	Image         string // the argument: a tag or a digest
	Key           string
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
		Severity:      []string{"HIGH", "CRITICAL"},
		Username:      getenv("GITHUB_ACTOR"),
		TokenEnv:      "GITHUB_TOKEN",
		ImagesFile:    getenv("GANTRY_IMAGES"),
		EngineTimeout: 3 * time.Minute,
	}
}

// Bind registers verify's flags on fs.
func (v *Verify) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&v.Key, "key", v.Key, "PEM public key the image must be signed with (cosign.pub)")
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
	if v.Key == "" {
		return usage("verify needs --key cosign.pub: keyless verification is not available in this version")
	}
	data, err := os.ReadFile(v.Key)
	if err != nil {
		return usage("--key: %v", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return usage("--key %s: not a PEM public key: pass cosign.pub from `cosign generate-key-pair`, not the private key", v.Key)
	}
	if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		return usage("--key %s: %v", v.Key, err)
	}
	if v.Repository == "" {
		return usage("verify needs --repository OWNER/REPO (or GITHUB_REPOSITORY): the repository the image must be built from")
	}
	if err := checkRepository(v.Repository); err != nil {
		return usage("--repository: %q is not a GitHub OWNER/REPO: %v", v.Repository, err)
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
