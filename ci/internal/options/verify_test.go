package options

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/gantry-ci/gantry/ci/internal/identity"
)

func TestVerifyValidate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A P-256 public key and a self-signed CA certificate, as cosign and
	// Fulcio write them.
	key, pubPEM := newKey(t)
	pub := write("cosign.pub", string(pubPEM))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	roots := write("roots.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})))
	junk := write("junk", "not pem")
	img := "ghcr.io/acme/app:1.2.3"
	tests := []struct {
		name string
		args []string
		err  string
		// policy is who a keyless signature must be by, when not the
		// safe default (a push to main or a release tag of acme/app).
		policy *identity.Policy
	}{
		{name: "key", args: []string{img, "--key", pub}},
		{name: "key, scanned within a week", args: []string{img, "--key", pub, "--max-scan-age", "168h"}},
		{name: "a negative scan age", args: []string{img, "--key", pub, "--max-scan-age", "-1h"}, err: "--max-scan-age must not be negative"},
		{name: "keyless by default: a push to main or a release tag of the repository", args: []string{img}},
		{name: "keyless, another default branch", args: []string{img, "--default-branch", "trunk"},
			policy: &identity.Policy{Issuer: identity.GitHubIssuer, Repository: "acme/app", Trigger: "push", DefaultBranch: "trunk"}},
		{name: "keyless, cosign's GitHub flags", args: []string{img, "--certificate-github-workflow-repository", "acme/other",
			"--certificate-github-workflow-trigger", "workflow_dispatch", "--certificate-github-workflow-ref", "refs/heads/release",
			"--certificate-github-workflow-sha", strings.Repeat("b", 40), "--certificate-github-workflow-name", "ci"},
			policy: &identity.Policy{Issuer: identity.GitHubIssuer, Repository: "acme/other", Trigger: "workflow_dispatch", Ref: "refs/heads/release",
				DefaultBranch: "main", SHA: strings.Repeat("b", 40), Name: "ci"}},
		{name: "keyless, the repository's ID", args: []string{img, "--certificate-github-repository-id", "81745"},
			policy: &identity.Policy{Issuer: identity.GitHubIssuer, Repository: "acme/app", RepositoryID: "81745", Trigger: "push", DefaultBranch: "main"}},
		{name: "a repository ID that is no number", args: []string{img, "--certificate-github-repository-id", "acme/app"}, err: `--certificate-github-repository-id: "acme/app" is not a numeric repository ID`},
		{name: "key and a repository ID", args: []string{img, "--key", pub, "--certificate-github-repository-id", "81745"}, err: "--key and the keyless flags"},
		{name: "keyless, the commit pins the certificate's", args: []string{img, "--commit", strings.Repeat("c", 40)},
			policy: &identity.Policy{Issuer: identity.GitHubIssuer, Repository: "acme/app", Trigger: "push", DefaultBranch: "main", SHA: strings.Repeat("c", 40)}},
		{name: "commit and certificate commit differ", args: []string{img, "--commit", strings.Repeat("c", 40), "--certificate-github-workflow-sha", strings.Repeat("d", 40)},
			err: "contradict each other"},
		{name: "no trigger", args: []string{img, "--certificate-github-workflow-trigger", ""}, err: "--certificate-github-workflow-trigger must not be empty"},
		{name: "a short ref", args: []string{img, "--certificate-github-workflow-ref", "main"}, err: `--certificate-github-workflow-ref: "main" is not a full ref`},
		{name: "a bad certificate SHA", args: []string{img, "--certificate-github-workflow-sha", "abc"}, err: "not a full 40-character"},
		{name: "a bad certificate repository", args: []string{img, "--certificate-github-workflow-repository", "acme"}, err: "not a GitHub OWNER/REPO"},
		{name: "key and a GitHub flag", args: []string{img, "--key", pub, "--certificate-github-workflow-ref", "refs/heads/main"}, err: "--key and the keyless flags"},
		{name: "keyless, one identity", args: []string{img, "--certificate-identity", "https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main"}},
		{name: "keyless, private Sigstore", args: []string{img, "--ca-roots", roots, "--insecure-ignore-sct", "--insecure-ignore-tlog", "--certificate-oidc-issuer", "http://127.0.0.1:5555"}},
		{name: "keyless, private Sigstore with Rekor", args: []string{img, "--ca-roots", roots, "--rekor-key", pub, "--insecure-ignore-sct", "--certificate-oidc-issuer", "http://127.0.0.1:5555"}},
		{name: "Rekor key and no log", args: []string{img, "--ca-roots", roots, "--rekor-key", pub, "--insecure-ignore-tlog"}, err: "--rekor-key and --insecure-ignore-tlog contradict"},
		{name: "Rekor key without roots", args: []string{img, "--rekor-key", pub}, err: "pass its Fulcio's roots with --ca-roots too"},
		{name: "Rekor key not a key", args: []string{img, "--ca-roots", roots, "--rekor-key", roots}, err: "--rekor-key " + roots + ": not a PEM public key"},
		{name: "key and Rekor key", args: []string{img, "--key", pub, "--rekor-key", pub}, err: "--key and the keyless flags"},
		{name: "key and identity", args: []string{img, "--key", pub, "--certificate-identity", "x"}, err: "--key and the keyless flags"},
		{name: "identity and pattern", args: []string{img, "--certificate-identity", "x", "--certificate-identity-regexp", "y"}, err: "contradict each other: pass one"},
		{name: "bad pattern", args: []string{img, "--certificate-identity-regexp", "("}, err: "--certificate-identity-regexp: error parsing regexp"},
		{name: "bad issuer", args: []string{img, "--certificate-oidc-issuer", "github"}, err: `--certificate-oidc-issuer: "github" is not an issuer URL`},
		{name: "roots not PEM", args: []string{img, "--ca-roots", junk}, err: "no PEM certificate in it"},
		{name: "roots missing", args: []string{img, "--ca-roots", filepath.Join(dir, "nope")}, err: "--ca-roots: open"},
		{name: "a private key as --key", args: []string{img, "--key", roots}, err: "not a PEM public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerify(func(k string) string { return map[string]string{"GITHUB_REPOSITORY": "acme/app"}[k] })
			fs := pflag.NewFlagSet("verify", pflag.ContinueOnError)
			v.Bind(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			v.Image = fs.Arg(0)
			err := v.Validate(func(string) string { return "" })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to say %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (v.PublicKey != nil) != (v.Key != "") {
				t.Errorf("PublicKey read = %v with --key %q", v.PublicKey != nil, v.Key)
			}
			if v.CARoots != "" && len(v.Keyless.Roots) == 0 {
				t.Error("--ca-roots not read")
			}
			if v.RekorKeyFile != "" && len(v.Keyless.RekorKey) == 0 {
				t.Error("--rekor-key not read")
			}
			if v.Key != "" {
				return
			}
			want := identity.Policy{Issuer: identity.GitHubIssuer, Repository: "acme/app", Trigger: "push", DefaultBranch: "main"}
			if strings.Contains(tt.name, "private Sigstore") {
				want.Issuer = "http://127.0.0.1:5555"
			}
			if tt.policy != nil {
				want = *tt.policy
			}
			if v.Keyless.Policy != want {
				t.Errorf("policy %+v, want %+v", v.Keyless.Policy, want)
			}
		})
	}
}

// newKey is a P-256 key pair and its public key in PEM, as cosign writes
// cosign.pub.
func newKey(t *testing.T) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
