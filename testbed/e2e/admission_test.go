package e2e

import (
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gantry-ci/gantry/internal/testenv"
)

func policyTester(t *testing.T) string {
	t.Helper()
	return testenv.Require(t, "the test bed builds policy-controller's policy-tester: run `go run ./testbed up` and source its env file", "TESTBED_POLICY_TESTER")[0]
}

// admissionDoc is docs/admission.md's YAML: the ClusterImagePolicy, the
// private Sigstore's TrustRoot, and the authority's fields for it.
type admissionDoc struct{ policy, trustRoot, authority string }

func readAdmissionDoc(t *testing.T) admissionDoc {
	t.Helper()
	doc := readFile(t, filepath.Join(repoRoot(t), "docs", "admission.md"))
	var blocks []string
	for rest := doc; ; {
		_, after, ok := strings.Cut(rest, "```yaml\n")
		if !ok {
			break
		}
		block, tail, ok := strings.Cut(after, "```")
		if !ok {
			t.Fatal("docs/admission.md: an unterminated ```yaml block")
		}
		blocks, rest = append(blocks, block), tail
	}
	if len(blocks) != 3 {
		t.Fatalf("docs/admission.md has %d YAML blocks, want the policy, the TrustRoot and the authority's fields", len(blocks))
	}
	return admissionDoc{blocks[0], blocks[1], blocks[2]}
}

// admission is the documented policy for repository and the images of
// glob, on this private Sigstore (its TrustRoot, the authority's fields
// for it, its OIDC issuer), edited by edit (if not nil); it returns the
// policy's and the TrustRoot's files.
func (s privateSigstore) admission(t *testing.T, doc admissionDoc, repository, glob string, edit func(string) string) (policy, trustRoot string) {
	t.Helper()
	dir := t.TempDir()
	tr := strings.NewReplacer(
		"<base64 of Fulcio's chain, PEM, root last>", base64.StdEncoding.EncodeToString([]byte(readFile(t, s.roots))),
		"<base64 of Rekor's public key, PEM>", base64.StdEncoding.EncodeToString([]byte(readFile(t, s.rekorKey))),
		"https://fulcio.internal", s.fulcioURL, "https://rekor.internal", s.rekorURL).Replace(doc.trustRoot)
	trustRoot = filepath.Join(dir, "trustroot.yaml")
	writeYAML(t, trustRoot, tr)

	// The user's values, and the bed's OIDC issuer for GitHub's.
	text := strings.NewReplacer("OWNER/REPO", repository, "ghcr.io/owner/app**", glob,
		"https://token.actions.githubusercontent.com", s.issuer.URL).Replace(doc.policy)
	if edit != nil {
		text = edit(text)
	}
	var cip map[string]any
	if err := yaml.Unmarshal([]byte(text), &cip); err != nil {
		t.Fatalf("the documented policy: %v", err)
	}
	var fields map[string]any
	if err := yaml.Unmarshal([]byte(strings.NewReplacer("https://fulcio.internal", s.fulcioURL, "https://rekor.internal", s.rekorURL).Replace(doc.authority)), &fields); err != nil {
		t.Fatalf("the documented authority fields: %v", err)
	}
	var trMeta struct {
		Metadata struct{ Name string }
	}
	if err := yaml.Unmarshal([]byte(tr), &trMeta); err != nil {
		t.Fatal(err)
	}
	auth := cip["spec"].(map[string]any)["authorities"].([]any)[0].(map[string]any)
	keyless := fields["keyless"].(map[string]any)
	if keyless["trustRootRef"] != trMeta.Metadata.Name {
		t.Fatalf("the authority's trustRootRef %v is not the TrustRoot's name %q", keyless["trustRootRef"], trMeta.Metadata.Name)
	}
	keyless["identities"] = auth["keyless"].(map[string]any)["identities"] // "[...]" in the doc: the policy's
	for k, v := range fields {
		auth[k] = v
	}
	out, err := yaml.Marshal(cip)
	if err != nil {
		t.Fatal(err)
	}
	policy = filepath.Join(dir, "policy.yaml")
	writeYAML(t, policy, string(out))
	return policy, trustRoot
}

func writeYAML(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// admits runs policy-tester: whether the policy admits image (a reference
// it reads over plain HTTP: a loopback address), and what it printed.
func admits(t *testing.T, policy, trustRoot, image string) (bool, string) {
	t.Helper()
	cmd := exec.Command(policyTester(t), "--policy", policy, "--trustroot", trustRoot, "--image", image)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running policy-tester: %v", err)
	}
	return err == nil, string(out)
}
