package options

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var ghEnv = map[string]string{
	"GITHUB_ACTIONS":    "true",
	"GITHUB_REPOSITORY": "Gantry-CI/Gantry",
	"GITHUB_ACTOR":      "octocat",
	"GITHUB_TOKEN":      "t0ken",
	"GITHUB_SHA":        "0123456789abcdef0123456789abcdef01234567",
	"GITHUB_REF":        "refs/heads/main",
	"GITHUB_EVENT_NAME": "push",
}

func TestDefaultsFromGitHubEnvironment(t *testing.T) {
	o := New(env(ghEnv), Declared{})
	if o.Image != "gantry-ci/gantry" {
		t.Errorf("image = %q, want the repository lowercased", o.Image)
	}
	if o.Repository != "Gantry-CI/Gantry" || o.Username != "octocat" || o.SHA != ghEnv["GITHUB_SHA"] || o.Ref != "refs/heads/main" {
		t.Errorf("env fallbacks not applied: %+v", o)
	}
	if !slices.Equal(o.Platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms in CI = %v, want both", o.Platforms)
	}
	if err := o.Validate(env(ghEnv)); err != nil {
		t.Fatalf("valid CI environment rejected: %v", err)
	}
	if o.LayerCache != "ghcr.io/gantry-ci/gantry:buildcache" {
		t.Errorf("layer cache in CI = %q, want next to the image", o.LayerCache)
	}
}

func TestLayerCacheDefaults(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{name: "off outside CI", env: map[string]string{}, args: []string{"--dry-run"}, want: "off"},
		{name: "next to --image in CI", env: ghEnv, args: []string{"--image", "acme/other"}, want: "ghcr.io/acme/other:buildcache"},
		{name: "the environment's", env: map[string]string{"GANTRY_LAYER_CACHE": "localhost:5000/cache:x"}, args: []string{"--dry-run"}, want: "localhost:5000/cache:x"},
		{name: "off in CI", env: ghEnv, args: []string{"--layer-cache", "off"}, want: "off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := parse(t, tt.env, tt.args)
			if err := o.Validate(env(tt.env)); err != nil {
				t.Fatal(err)
			}
			if o.LayerCache != tt.want {
				t.Errorf("layer cache = %q, want %q", o.LayerCache, tt.want)
			}
		})
	}
}

// parse parses args as flags over the defaults from e.
func parse(t *testing.T, e map[string]string, args []string) *Options {
	t.Helper()
	o := New(env(e), Declared{})
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	o.Bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

// validate parses args as flags over the defaults from e, and validates.
func validate(t *testing.T, e map[string]string, args []string) error {
	t.Helper()
	return parse(t, e, args).Validate(env(e))
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // substring of the error; "" = valid
	}{
		{name: "dry run needs no token or image", args: []string{"--dry-run"}, env: map[string]string{}},
		{name: "pull request needs no token", args: []string{"--event", "pull_request"}, env: map[string]string{}},
		{name: "bad severity", args: []string{"--dry-run", "--severity", "HIGH,SEVERE"}, want: `unknown severity "SEVERE"`},
		{name: "lower-case severity is accepted", args: []string{"--dry-run", "--severity", "critical"}},
		{name: "empty severity", args: []string{"--dry-run", "--severity", ""}, want: "--severity"},
		{name: "upper-case image", args: []string{"--dry-run", "--image", "Owner/App"}, want: `use "owner/app"`},
		{name: "image with the registry host", args: []string{"--dry-run", "--image", "ghcr.io/owner/app"}, want: "--registry ghcr.io --image owner/app"},
		{name: "image with a host and port", args: []string{"--dry-run", "--image", "registry.local:5000/app"}, want: "--registry registry.local:5000 --image app"},
		{name: "image with localhost", args: []string{"--dry-run", "--image", "localhost/app"}, want: "--registry localhost --image app"},
		{name: "malformed image", args: []string{"--dry-run", "--image", "owner//app"}, want: "not a valid image name"},
		{name: "image with tag", args: []string{"--dry-run", "--image", "owner/app:v1"}, want: "not a valid image name"},
		{name: "bad registry", args: []string{"--dry-run", "--registry", "https://ghcr.io"}, want: "--registry"},
		{name: "registry with port", args: []string{"--dry-run", "--registry", "172.17.0.1:5000"}},
		{name: "short sha", args: []string{"--dry-run", "--sha", "abc123"}, want: "40-character"},
		{name: "bad latest", args: []string{"--dry-run", "--latest", "yes"}, want: "--latest"},
		{name: "bad ref", args: []string{"--dry-run", "--ref", "main"}, want: "refs/heads/BRANCH"},
		{name: "code scanning", args: []string{"--dry-run", "--upload-sarif", "--repository", "acme/app"}, env: map[string]string{"GITHUB_TOKEN": "x"}},
		{name: "code scanning without a token", args: []string{"--dry-run", "--upload-sarif", "--repository", "acme/app"}, want: "--upload-sarif needs --repository OWNER/REPO and a token"},
		{name: "code scanning on a stand-in on loopback", args: []string{"--dry-run", "--upload-sarif", "--repository", "acme/app"}, env: map[string]string{"GITHUB_TOKEN": "x", "GITHUB_API_URL": "http://127.0.0.1:8080"}},
		{name: "the token over plain http", args: []string{"--dry-run", "--upload-sarif", "--repository", "acme/app"}, env: map[string]string{"GITHUB_TOKEN": "x", "GITHUB_API_URL": "http://github.example.com/api/v3"}, want: "plain http only on loopback"},
		{name: "an API URL with credentials", args: []string{"--dry-run", "--upload-sarif", "--repository", "acme/app"}, env: map[string]string{"GITHUB_TOKEN": "x", "GITHUB_API_URL": "https://u:s3cret@github.example.com"}, want: "without credentials"},
		{name: "bad output", args: []string{"--dry-run", "--output", "yaml"}, want: `--output "yaml": want text or json`},
		{name: "bad platform", args: []string{"--dry-run", "--platform", "linux/sparc"}, want: "--platform: \"linux/sparc\": architecture sparc is not one Gantry builds"},
		{name: "arm without its variant", args: []string{"--dry-run", "--platform", "linux/amd64,linux/arm"}, want: "arm needs a variant"},
		{name: "duplicate platform", args: []string{"--dry-run", "--platform", "linux/amd64,linux/amd64"}, want: "twice"},
		{name: "zero engine timeout", args: []string{"--dry-run", "--engine-timeout", "0s"}, want: "--engine-timeout"},
		{name: "negative DB age", args: []string{"--dry-run", "--max-db-age", "-1h"}, want: "--max-db-age must be positive"},
		{name: "bad repository", args: []string{"--dry-run", "--repository", "just-a-name"}, want: "OWNER/REPO"},
		{name: "publishing without token", args: []string{"--image", "o/a", "--username", "u"}, env: map[string]string{}, want: "needs a registry token in $GITHUB_TOKEN"},
		{name: "publishing with token in another variable", args: []string{"--image", "o/a", "--username", "u", "--token-env", "MY_TOKEN"}, env: map[string]string{"MY_TOKEN": "x"}},
		{name: "publishing without image", args: []string{"--username", "u"}, env: map[string]string{"GITHUB_TOKEN": "x"}, want: "--image is required"},
		{name: "publishing without username", args: []string{"--image", "o/a"}, env: map[string]string{"GITHUB_TOKEN": "x"}, want: "user name"},
		{name: "empty report dir", args: []string{"--dry-run", "--report-dir", ""}, want: "--report-dir"},
		{name: "unknown sign mode", args: []string{"--dry-run", "--sign", "yes"}, want: `--sign: "yes" is not one of auto, keyless, key, off`},
		{name: "sign off with a key", args: []string{"--dry-run", "--sign", "off", "--sign-key", "k"}, want: "contradict"},
		{name: "sign key", args: []string{"--dry-run", "--sign", "key", "--sign-key", "k"}},
		{name: "Fulcio roots with a key", args: []string{"--dry-run", "--sign-key", "k", "--ca-roots", "roots.pem"}, want: "--ca-roots, --rekor-key and --insecure-ignore-sct are for keyless signing, not --sign-key: drop them"},
		{name: "no SCT with signing off", args: []string{"--dry-run", "--sign", "off", "--insecure-ignore-sct"}, want: "not --sign off"},
		{name: "Fulcio roots missing", args: []string{"--dry-run", "--ca-roots", "/nonexistent/roots.pem"}, want: "--ca-roots: open /nonexistent/roots.pem"},
		{name: "Rekor key with signing off", args: []string{"--dry-run", "--sign", "off", "--rekor-key", "rekor.pub"}, want: "not --sign off"},
		{name: "Rekor key without Fulcio roots", args: []string{"--dry-run", "--rekor-key", "rekor.pub"}, want: "--rekor-key is for a private Sigstore: pass its Fulcio's roots with --ca-roots too"},
		{name: "Rekor key without Rekor", args: []string{"--dry-run", "--rekor-url", "off", "--rekor-key", "rekor.pub"}, want: "--rekor-key with --rekor-url off"},
		{name: "a layer cache", args: []string{"--dry-run", "--layer-cache", "ghcr.io/acme/app:buildcache"}},
		{name: "a layer cache without a tag", args: []string{"--dry-run", "--layer-cache", "ghcr.io/acme/app"}, want: `--layer-cache: "ghcr.io/acme/app" is not a registry/name:tag reference`},
		{name: "a layer cache by digest", args: []string{"--dry-run", "--layer-cache", "ghcr.io/acme/app@sha256:" + strings.Repeat("a", 64)}, want: "--layer-cache:"},
		{name: "keyless with a key", args: []string{"--dry-run", "--sign", "keyless", "--sign-key", "k"}, want: "--sign keyless and --sign-key contradict"},
		{name: "private Sigstore", args: []string{"--dry-run", "--fulcio-url", "http://10.0.0.5:5555", "--rekor-url", "off"}},
		{name: "Fulcio URL without scheme", args: []string{"--dry-run", "--fulcio-url", "fulcio.example.com"}, want: `--fulcio-url: "fulcio.example.com" is not an https:// URL`},
		{name: "Fulcio off", args: []string{"--dry-run", "--fulcio-url", "off"}, want: `--fulcio-url: "off" is not an https:// URL`},
		{name: "Rekor URL with a password", args: []string{"--dry-run", "--rekor-url", "https://u:p@rekor.example.com"}, want: "--rekor-url: the URL holds credentials"},
		{name: "Rekor URL", args: []string{"--dry-run", "--rekor-url", "rekor.example.com"}, want: `--rekor-url: "rekor.example.com" is not an https:// URL such as https://rekor.sigstore.dev, or "off"`},
		{name: "repository with a path", args: []string{"--dry-run", "--repository", "../.."}, want: "the owner"},
		{name: "repository with three parts", args: []string{"--dry-run", "--repository", "a/b/c"}, want: "exactly one /"},
		{name: "repository named ..", args: []string{"--dry-run", "--repository", "owner/.."}, want: "not . or .."},
		{name: "owner with a leading hyphen", args: []string{"--dry-run", "--repository", "-owner/app"}, want: "the owner"},
		{name: "owner with a double hyphen", args: []string{"--dry-run", "--repository", "ow--ner/app"}, want: "the owner"},
		{name: "owner too long", args: []string{"--dry-run", "--repository", strings.Repeat("a", 40) + "/app"}, want: "the owner"},
		{name: "repository name with a space", args: []string{"--dry-run", "--repository", "owner/my app"}, want: "repository name"},
		{name: "valid repository", args: []string{"--dry-run", "--repository", "Gantry-CI/gantry.go_x"}},
		{name: "unknown event", args: []string{"--dry-run", "--event", "pushed"}, want: "--event"},
		{name: "schedule event", args: []string{"--dry-run", "--event", "schedule"}},
		{name: "default branch with a space", args: []string{"--dry-run", "--default-branch", "my branch"}, want: "--default-branch"},
		{name: "default branch with ..", args: []string{"--dry-run", "--default-branch", "a..b"}, want: "--default-branch"},
		{name: "default branch ending in .lock", args: []string{"--dry-run", "--default-branch", "main.lock"}, want: "--default-branch"},
		{name: "default branch starting with -", args: []string{"--dry-run", "--default-branch", "-main"}, want: "--default-branch"},
		{name: "default branch with a slash", args: []string{"--dry-run", "--default-branch", "release/2026"}},
		{name: "token variable with a dash", args: []string{"--image", "o/a", "--username", "u", "--token-env", "MY-TOKEN"}, env: map[string]string{"MY-TOKEN": "x"}, want: "not an environment variable name"},
		{name: "a token given as --token-env", args: []string{"--image", "o/a", "--username", "u", "--token-env", "ghp_0123456789abcdefghij0123456789abcd"}, want: "looks like a token"},
		{name: "publishing without tests", args: []string{"--image", "o/a", "--username", "u", "--skip-tests"}, env: map[string]string{"GITHUB_TOKEN": "x"}, want: "use --dry-run"},
		{name: "a dry run may skip tests", args: []string{"--dry-run", "--skip-tests"}},
		{name: "a pull request may skip tests", args: []string{"--event", "pull_request", "--skip-tests"}},
		{name: "a pull request's ref is never published", args: []string{"--event", "issue_comment", "--ref", "refs/pull/7/merge"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.env
			if e == nil {
				e = map[string]string{}
			}
			err := validate(t, e, tt.args)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a UsageError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("usage error spans lines: %q", err)
			}
		})
	}
}

// With a token in the environment, every check that runs while publishing
// still fails for its own reason, and none of them repeats the token.
func TestTokenNeverInErrors(t *testing.T) {
	const token = "sup3r-s3cret-0a1b2c"
	e := map[string]string{"GITHUB_TOKEN": token, "OTHER": token}
	tests := []struct {
		args []string
		want string // proves the case reached the check it is about
	}{
		{[]string{"--image", "o/a"}, "user name"},
		{[]string{"--username", "u"}, "--image is required"},
		{[]string{"--image", "O/A", "--username", "u"}, "upper-case"},
		{[]string{"--image", "o/a", "--username", "u", "--token-env", ""}, "--token-env must name"},
		{[]string{"--image", "o/a", "--username", "u", "--token-env", "UNSET"}, "$UNSET"},
		{[]string{"--image", "o/a", "--username", "u", "--registry", "bad/registry"}, "--registry"},
		{[]string{"--image", "o/a", "--username", "u", "--token-env", token}, "not an environment variable name"},
		{[]string{"--image", "o/a", "--username", "u", "--token-env", "ghp_" + strings.Repeat("x", 36)}, "looks like a token"},
		{[]string{"--image", "o/a", "--username", "u", "--skip-tests"}, "--skip-tests"},
	}
	for _, tt := range tests {
		err := validate(t, e, tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want it to contain %q", tt.args, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "ghp_") {
			t.Errorf("%v: the token appears in %q", tt.args, err)
		}
	}
}

// A keyless release reads --rekor-key before the engine, for promotion,
// and refuses one that is no public key.
func TestRekorKeyIsRead(t *testing.T) {
	dir := t.TempDir()
	roots, pub := filepath.Join(dir, "roots.pem"), filepath.Join(dir, "rekor.pub")
	_, pubPEM := newKey(t)
	for p, data := range map[string]string{roots: "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n", pub: string(pubPEM)} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name, key, want string
	}{
		{name: "a public key", key: pub},
		{name: "a certificate", key: roots, want: "--rekor-key " + roots + ": not a PEM public key"},
		{name: "missing", key: filepath.Join(dir, "nope"), want: "--rekor-key: open"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := New(env(nil), Declared{})
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			o.Bind(fs)
			if err := fs.Parse([]string{"--dry-run", "--fulcio-url", "http://10.0.0.5:5555", "--rekor-url", "http://10.0.0.5:5556",
				"--ca-roots", roots, "--rekor-key", tt.key}); err != nil {
				t.Fatal(err)
			}
			err := o.Validate(env(nil))
			if tt.want != "" {
				var ue *UsageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err = %v, want a usage error saying %q", err, tt.want)
				}
				return
			}
			if err != nil || string(o.RekorKey) != string(pubPEM) {
				t.Errorf("err %v, key %q; want the file's content", err, o.RekorKey)
			}
		})
	}
}

// A keyless release reads --ca-roots before the engine, for promotion.
func TestFulcioRootsAreRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "roots.pem")
	roots := "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"
	if err := os.WriteFile(p, []byte(roots), 0o600); err != nil {
		t.Fatal(err)
	}
	o := New(env(nil), Declared{})
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	o.Bind(fs)
	if err := fs.Parse([]string{"--dry-run", "--fulcio-url", "http://10.0.0.5:5555", "--ca-roots", p, "--insecure-ignore-sct"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(env(nil)); err != nil {
		t.Fatal(err)
	}
	if string(o.Roots) != roots || !o.IgnoreSCT {
		t.Errorf("roots %q, ignore SCT %v; want the file's content and true", o.Roots, o.IgnoreSCT)
	}
	if err := os.WriteFile(p, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(env(nil)); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a non-PEM --ca-roots: %v, want a usage error", err)
	}
}

// Only a log nobody chose is the default: a private repository may still
// send its signatures to Sigstore's public log by naming it (issue 21).
func TestRekorDefault(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want bool
	}{
		{name: "nothing given", want: true},
		{name: "the public log named by flag", args: []string{"--rekor-url", DefaultRekorURL}},
		{name: "the public log named in the environment", env: map[string]string{"GANTRY_REKOR_URL": DefaultRekorURL}},
		{name: "a private log", args: []string{"--rekor-url", "https://rekor.internal.example"}},
		{name: "no log", args: []string{"--rekor-url", "off"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := parse(t, tt.env, tt.args)
			if got := o.RekorDefault(); got != tt.want {
				t.Errorf("RekorDefault() = %v, want %v", got, tt.want)
			}
		})
	}
}

// The test modules a project declares are the default; the environment
// and the flag override them for one run.
func TestTestModules(t *testing.T) {
	for _, tt := range []struct {
		name     string
		declared []string
		env      map[string]string
		args     []string
		want     []string
	}{
		{name: "nothing declared: none (the project's defaults are its own)", want: nil},
		{name: "declared", declared: []string{".", "tools"}, want: []string{".", "tools"}},
		{name: "the environment over the declaration", declared: []string{".", "tools"}, env: map[string]string{"GANTRY_TEST_MODULES": "api"}, want: []string{"api"}},
		{name: "the flag over both", declared: []string{"."}, env: map[string]string{"GANTRY_TEST_MODULES": "api"}, args: []string{"--test-modules", "web,api"}, want: []string{"web", "api"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := New(env(tt.env), Declared{TestModules: tt.declared})
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			o.Bind(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.TestModules, tt.want) {
				t.Errorf("test modules %q, want %q", o.TestModules, tt.want)
			}
		})
	}
}

// The platforms a project declares are what GitHub Actions builds; a run
// elsewhere builds the host's, and --platform chooses for one run.
func TestDeclaredPlatforms(t *testing.T) {
	declared := []string{"linux/amd64", "linux/arm/v7"}
	host := []string{"linux/" + runtime.GOARCH}
	for _, tt := range []struct {
		name     string
		env      map[string]string
		declared []string
		args     []string
		want     []string
	}{
		{name: "actions, nothing declared", env: map[string]string{"GITHUB_ACTIONS": "true"}, want: []string{"linux/amd64", "linux/arm64"}},
		{name: "actions, declared", env: map[string]string{"GITHUB_ACTIONS": "true"}, declared: declared, want: declared},
		{name: "locally, declared", declared: declared, want: host},
		{name: "the flag", env: map[string]string{"GITHUB_ACTIONS": "true"}, declared: declared, args: []string{"--platform", "linux/s390x"}, want: []string{"linux/s390x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := New(env(tt.env), Declared{Platforms: tt.declared})
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			o.Bind(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.Platforms, tt.want) {
				t.Errorf("platforms %q, want %q", o.Platforms, tt.want)
			}
		})
	}
}
