package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/internal/testenv"
	"github.com/gantry-ci/gantry/testbed/internal/fulcio"
	"github.com/gantry-ci/gantry/testbed/internal/oidcissuer"
	"github.com/gantry-ci/gantry/testbed/internal/rekor"
	"github.com/gantry-ci/gantry/testbed/internal/trustroot"
)

// sigstorePorts are where a test's Fulcio (HTTP; gRPC and metrics on the
// next two ports) and Rekor (Trillian on the next four) listen, outside
// the test registries' 5002-5009: one set per test that runs a Sigstore,
// so that those tests run side by side.
type sigstorePorts struct{ fulcio, rekor int }

var (
	keylessPorts = sigstorePorts{fulcio: 5020, rekor: 5023}
	ghcrPorts    = sigstorePorts{fulcio: 5040, rekor: 5043}
)

// privateSigstore is a Sigstore on the bed: a stand-in for GitHub Actions'
// OIDC token service on loopback, a real Fulcio (ephemeral CA, no CT log)
// that trusts it, and a real Rekor on Trillian, both on the bridge address
// the engine reaches.
type privateSigstore struct {
	issuer    *oidcissuer.Issuer
	fulcioURL string
	roots     string // PEM file of Fulcio's chain
	rekorURL  string
	rekorKey  string // PEM file of Rekor's public key
	since     time.Time
}

// trustedRoot writes this Sigstore's trusted root, as a deployer's
// cosign v3 and gh are given it, and returns its path.
func (s privateSigstore) trustedRoot(t *testing.T) string {
	t.Helper()
	return writeTrustedRoot(t, trustroot.Sigstore{FulcioURL: s.fulcioURL, FulcioChain: []byte(readFile(t, s.roots)),
		RekorURL: s.rekorURL, RekorKey: []byte(readFile(t, s.rekorKey)), Since: s.since})
}

// startSigstore starts them all on ports for a workflow run with claims;
// they stop with the test.
func startSigstore(t *testing.T, host string, ports sigstorePorts, claims map[string]any) privateSigstore {
	t.Helper()
	bin := testenv.Require(t, "the test bed provides Fulcio: run `go run ./testbed up` and source its env file", "TESTBED_FULCIO")[0]
	since := time.Now().Add(-time.Minute).Truncate(time.Second) // before Fulcio's CA and Rekor's log exist
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	is, err := oidcissuer.Start(l, claims)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { is.Close() })

	dir := t.TempDir()
	cfg, err := fulcio.Config(is.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s:%d", host, ports.fulcio)
	startServer(t, dir, "fulcio", bin, fulcio.ServeArgs(cfgPath, dir, host, ports.fulcio), func() error { return httpOK(url + "/api/v1/rootCert") })
	resp, err := http.Get(url + "/api/v1/rootCert")
	if err != nil {
		t.Fatalf("reading Fulcio's root: %v", err)
	}
	defer resp.Body.Close()
	chain, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(chain), "BEGIN CERTIFICATE") {
		t.Fatalf("Fulcio's root: %s %q %v", resp.Status, chain, err)
	}
	roots := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(roots, chain, 0o644); err != nil {
		t.Fatal(err)
	}
	rekorURL, rekorKey := startRekor(t, host, ports.rekor)
	return privateSigstore{issuer: is, fulcioURL: url, roots: roots, rekorURL: rekorURL, rekorKey: rekorKey, since: since}
}

// startRekor starts a Rekor on host with its Trillian log server and log
// signer, in a database of its own on the test PostgreSQL; all stop, and
// the database goes, with the test. It returns Rekor's URL and a file of
// its public key.
func startRekor(t *testing.T, host string, port int) (url, keyFile string) {
	t.Helper()
	vals := testenv.Require(t, "the test bed provides Rekor and Trillian: run `go run ./testbed up` and source its env file; "+
		"Trillian keeps its log in the PostgreSQL of TEST_DATABASE_URL (ci/test.sh starts one)",
		"TESTBED_REKOR", "TESTBED_TRILLIAN", "TEST_DATABASE_URL")
	rekorBin, trillianDir, base := vals[0], vals[1], vals[2]
	dir := t.TempDir()

	db := fmt.Sprintf("rekor_%d_%d", os.Getpid(), time.Now().UnixNano())
	dbURL, err := rekor.DatabaseURL(base, db)
	if err != nil {
		t.Fatal(err)
	}
	psql(t, base, "-c", "CREATE DATABASE "+db)
	t.Cleanup(func() { psql(t, base, "-c", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") })
	psql(t, dbURL, "-f", filepath.Join(trillianDir, rekor.Schema))

	p := rekor.PortsFrom(port)
	healthy := func(port int) func() error {
		return func() error { return httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz", port)) }
	}
	startServer(t, dir, "trillian_log_server", filepath.Join(trillianDir, "trillian_log_server"), rekor.LogServerArgs(dbURL, p), healthy(p.LogHTTP))
	startServer(t, dir, "trillian_log_signer", filepath.Join(trillianDir, "trillian_log_signer"), rekor.LogSignerArgs(dbURL, p), healthy(p.SignerHTTP))
	url = fmt.Sprintf("http://%s:%d", host, p.Rekor)
	startServer(t, dir, "rekor-server", rekorBin, rekor.ServeArgs(host, p), func() error { return httpOK(url + "/api/v1/log") })

	resp, err := http.Get(url + "/api/v1/log/publicKey")
	if err != nil {
		t.Fatalf("reading Rekor's public key: %v", err)
	}
	defer resp.Body.Close()
	key, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(key), "BEGIN PUBLIC KEY") {
		t.Fatalf("Rekor's public key: %s %q %v", resp.Status, key, err)
	}
	keyFile = filepath.Join(dir, "rekor.pub")
	if err := os.WriteFile(keyFile, key, 0o644); err != nil {
		t.Fatal(err)
	}
	return url, keyFile
}

// psql runs psql on the database at url, stopping at the first error.
func psql(t *testing.T, url string, args ...string) {
	t.Helper()
	out, err := exec.Command("psql", append([]string{"-v", "ON_ERROR_STOP=1", "-q", "-d", url}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// httpOK GETs url and wants 200.
func httpOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// diesWithTest kills a server when the test binary dies without its
// cleanups (a -timeout panic), so that no server outlives it holding a port.
var diesWithTest = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

// startServer starts bin with args, its output in dir/name.log, and waits
// up to a minute for ready to pass; it stops with the test. A server that
// exits first, or never gets ready, fails the test with its log.
func startServer(t *testing.T, dir, name, bin string, args []string, ready func() error) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = diesWithTest
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() { cancel(); <-exited })

	fail := func(why string) {
		cancel()
		<-exited
		out, _ := os.ReadFile(logPath)
		t.Fatalf("%s %s:\n%s", name, why, tailLines(string(out), 50))
	}
	deadline := time.After(time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case werr := <-exited:
			exited <- werr
			fail(fmt.Sprintf("exited (%v) before it was ready", werr))
		case <-deadline:
			fail(fmt.Sprintf("was not ready within a minute (%v)", err))
		case <-tick.C:
		}
	}
}

// env is a job's environment with `permissions: id-token: write`.
func (s privateSigstore) env() map[string]string {
	return map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": s.issuer.TokenURL(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": s.issuer.RequestToken}
}

// signer is a keyless signer on this Sigstore, for cosign: its entries are
// checked against this Rekor's key (cosign reads it from the environment).
func (s privateSigstore) signer(identity string) signer {
	return signer{flags: []string{"--certificate-identity", identity, "--certificate-oidc-issuer", s.issuer.URL,
		"--ca-roots", s.roots, "--insecure-ignore-sct", "--rekor-url", s.rekorURL},
		env: []string{"SIGSTORE_REKOR_PUBLIC_KEY=" + s.rekorKey}}
}

// A run in a job that may request OIDC tokens signs keylessly by default:
// Fulcio certifies the workflow's identity, Rekor logs every signature and
// attestation, and the real cosign accepts them for that identity and for
// no other, checking each log entry against Rekor's key; so does `gantry
// verify`, and it refuses them against another log's key. What this does
// not reach: SCTs (no CT log) and Sigstore's public TUF roots.
func TestKeylessSigning(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	dir := copyRepo(t, nil)
	sha := headSHA(t, dir)
	const workflow = ".github/workflows/ci.yml"
	ss := startSigstore(t, strings.Split(reg, ":")[0], keylessPorts, oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/heads/main", sha, workflow))
	identity := "https://github.com/gantry-ci/gantry/" + workflow + "@refs/heads/main"
	image := uniqueImage("keyless")
	env := ss.env()
	env["GITHUB_TOKEN"] = "x"
	// With the roots and the log's key, a publishing run can check a run
	// record and a release can promote.
	args := []string{"--registry", reg, "--image", image, "--username", "e2e", "--repository", "gantry-ci/gantry",
		"--fulcio-url", ss.fulcioURL, "--rekor-url", ss.rekorURL, "--ca-roots", ss.roots, "--rekor-key", ss.rekorKey, "--insecure-ignore-sct"}
	keyless := []string{"--certificate-oidc-issuer", ss.issuer.URL, "--ca-roots", ss.roots, "--insecure-ignore-sct", "--rekor-key", ss.rekorKey}
	repo := reg + "/" + image

	// Issue 21: code that got a pull request's OIDC token (the old
	// workflow gave same-repository pull requests `id-token: write` and
	// `packages: write`), or a branch's, signs an image of its own by hand
	// under main's SHA tag, with a provenance that claims main's commit
	// and ref. Its certificate is real and its signatures are in Rekor;
	// only the ref and trigger the certificate vouches for give it away.
	pr := oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/pull/7/merge", sha, workflow)
	pr["event_name"] = "pull_request"
	branch := oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/heads/feature", sha, workflow)
	for _, h := range []struct {
		name   string
		claims map[string]any
		says   []string
	}{
		{"a pull request's", pr, []string{"ref refs/pull/7/merge, trigger pull_request", "a run triggered by pull_request"}},
		{"a branch's", branch, []string{"ref refs/heads/feature, trigger push", "a run for refs/heads/feature"}},
	} {
		signAsHostile(t, ss, h.claims, repo, sha, sha)
		res := verifyImage(t, dir, append(keyless, "--repository", "gantry-ci/gantry", repo+":"+sha)...)
		if res.code != exitUnverified || !strings.Contains(res.stdout, "✗ signature") {
			t.Errorf("verify of the image signed with %s token: exit %d, want %d and a failed signature:\n%s", h.name, res.code, exitUnverified, res.stdout)
		}
		for _, want := range h.says {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("verify of the image signed with %s token does not say %q:\n%s", h.name, want, res.stdout)
			}
		}
	}
	ss.issuer.SetClaims(oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/heads/main", sha, workflow))
	issued := ss.issuer.Issued.Load()

	// main's run finds the branch's image under its SHA tag: no run record
	// (it would otherwise take it as its own passed run), every stage runs.
	res := run(t, dir, env, args...)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0", res.code)
	}
	if want := "gantry: no run record in " + repo + ":" + sha + ":"; !strings.Contains(res.stdout, want) ||
		!strings.Contains(res.stdout, "a run for refs/heads/feature") {
		t.Errorf("main's run does not say it found no run record (%q, naming the branch's ref):\n%s", want, res.stdout)
	}
	published := time.Now()
	if want := "Signed keyless as `" + identity + "` (OIDC issuer `" + ss.issuer.URL + "`"; !strings.Contains(res.stdout, want) {
		t.Errorf("the summary does not say %q:\n%s", want, res.stdout)
	}
	// Issue 24: it links the Rekor entries.
	if want := "(" + ss.rekorURL + "/api/v1/log/entries?logIndex="; !strings.Contains(res.stdout, want) {
		t.Errorf("the summary links no Rekor entry (%q):\n%s", want, res.stdout)
	}
	// One token to plan the run, a fresh one to sign with.
	if n := ss.issuer.Issued.Load() - issued; n != 2 {
		t.Errorf("%d tokens requested, want 2", n)
	}
	latest := repo + ":latest"
	if _, err := cosignVerify(t, ss.signer(identity), "verify", latest); err != nil {
		t.Errorf("cosign verify --certificate-identity %s %s failed", identity, latest)
	}
	other := "https://github.com/gantry-ci/gantry/.github/workflows/release.yml@refs/heads/main"
	if _, err := cosignVerify(t, ss.signer(other), "verify", latest); err == nil {
		t.Errorf("cosign verify accepts %s as signed by %s", latest, other)
	}
	// Issue 23: the verifiers deployers run read the Sigstore bundles
	// attached as referrers, with the trusted root a deployer is given:
	// cosign v3 for the publishing workflow's identity (and not another
	// ref's), gh for the repository (and not another).
	tr := ss.trustedRoot(t)
	pinned := repo + "@" + digestOf(t, latest)
	branchIdentity := "https://github.com/gantry-ci/gantry/" + workflow + "@refs/heads/feature"
	for _, verb := range [][]string{{"verify"}, {"verify-attestation", "--type", "slsaprovenance1"}} {
		as := func(id string) (string, error) {
			return cosign3Verify(t, verb[0], tr, append(verb[1:], "--certificate-identity", id,
				"--certificate-oidc-issuer", ss.issuer.URL, "--insecure-ignore-sct", pinned)...)
		}
		// verify shows it read the bundles; verify-attestation reads them
		// too when an image has any.
		if out, err := as(identity); err != nil || (verb[0] == "verify" && !strings.Contains(out, bundleSigned)) {
			t.Errorf("cosign v3 %s as %s: %v, want it to pass on the bundles:\n%s", strings.Join(verb, " "), identity, err, out)
		}
		if _, err := as(branchIdentity); err == nil {
			t.Errorf("cosign v3 %s accepts %s as signed by %s", strings.Join(verb, " "), pinned, branchIdentity)
		}
	}
	gh := func(repository string) error {
		_, err := ghVerify(t, pinned, tr, "--repo", repository, "--cert-oidc-issuer", ss.issuer.URL,
			"--source-ref", "refs/heads/main", "--predicate-type", "https://slsa.dev/provenance/v1")
		return err
	}
	if err := gh("gantry-ci/gantry"); err != nil {
		t.Errorf("gh attestation verify --repo gantry-ci/gantry %s failed", pinned)
	}
	if err := gh("gantry-ci/other"); err == nil {
		t.Errorf("gh attestation verify accepts %s for gantry-ci/other", pinned)
	}
	// Issue 23: the admission policy docs/admission.md documents, as
	// policy-controller's policy-tester evaluates it on the bundles: it
	// admits main's image, and neither for another repository nor under
	// a policy that admits release tags only.
	doc := readAdmissionDoc(t)
	regHost, path, _ := strings.Cut(pinned, "/")
	local := loopback(t, regHost) + "/" + path
	glob := strings.SplitN(local, "@", 2)[0] + "**"
	// Each edit must change the policy: one that no longer applies
	// would admit, and fail the case.
	replace := func(old, new string) func(string) string {
		return func(p string) string { return strings.Replace(p, old, new, 1) }
	}
	releasesOnly := replace(`(heads/main|tags/v[0-9]+\.[0-9]+\.[0-9]+)`, `tags/v[0-9]+\.[0-9]+\.[0-9]+`)
	// CUE admits data that lacks a field the policy names: these show
	// that the policy's paths reach the statements' fields.
	failedScan := replace(`gate: passed: true`, `gate: passed: false`)
	otherProvenance := replace(`repository: "https://github.com/gantry-ci/gantry"`, `repository: "https://github.com/gantry-ci/other"`)
	for _, c := range []struct {
		name, repository string
		edit             func(string) string
		admit            bool
	}{
		{"as documented", "gantry-ci/gantry", nil, true},
		{"for another repository", "gantry-ci/other", nil, false},
		{"for releases only", "gantry-ci/gantry", releasesOnly, false},
		{"for a scan that failed", "gantry-ci/gantry", failedScan, false},
		{"for another repository's provenance", "gantry-ci/gantry", otherProvenance, false},
	} {
		policy, trustRoot := ss.admission(t, doc, c.repository, glob, c.edit)
		ok, out := admits(t, policy, trustRoot, local)
		if ok != c.admit {
			t.Errorf("the admission policy %s: admitted %v, want %v:\n%s", c.name, ok, c.admit, out)
		} else if !ok && !strings.Contains(out, `"errors"`) {
			t.Errorf("the admission policy %s refused for another reason than the image:\n%s", c.name, out)
		}
	}
	for _, typ := range []string{"cyclonedx", "vuln"} {
		if sts := attestationsBy(t, ss.signer(identity), latest, typ); len(sts) != 1 {
			t.Errorf("%d %s attestations, want 1", len(sts), typ)
		}
	}
	prov := attestationsBy(t, ss.signer(identity), latest, "slsaprovenance1")
	if len(prov) != 1 {
		t.Fatalf("%d provenance attestations, want 1", len(prov))
	}
	var p struct {
		BuildDefinition struct{ ExternalParameters struct{ Commit string } }
	}
	if err := json.Unmarshal(prov[0].Predicate, &p); err != nil || p.BuildDefinition.ExternalParameters.Commit != sha {
		t.Errorf("the provenance names commit %q (%v), want %s", p.BuildDefinition.ExternalParameters.Commit, err, sha)
	}

	// By default verify accepts any workflow of --repository pushed to
	// main or a release tag.
	if res := verifyImage(t, dir, append(keyless, "--repository", "gantry-ci/gantry", "--commit", sha, latest)...); res.code != exitOK ||
		strings.Count(res.stdout, "✓") != 4 {
		t.Errorf("verify keyless: exit %d, want 0 and four passing checks:\n%s", res.code, res.stdout)
	}
	if res := verifyImage(t, dir, append(keyless, "--certificate-identity", other, "--repository", "gantry-ci/gantry", latest)...); res.code != exitUnverified ||
		!strings.Contains(res.stdout, "✗ signature") {
		t.Errorf("verify keyless as %s: exit %d, want %d and a failed signature:\n%s", other, res.code, exitUnverified, res.stdout)
	}
	if res := verifyImage(t, dir, append(keyless, "--repository", "gantry-ci/other", latest)...); res.code != exitUnverified ||
		!strings.Contains(res.stdout, "✗ signature") {
		t.Errorf("verify keyless for another repository: exit %d, want %d and a failed signature:\n%s", res.code, exitUnverified, res.stdout)
	}
	// The log entries are checked: against another log's key they fail.
	_, otherLog := keyPair(t, "other")
	notRekor := []string{"--certificate-oidc-issuer", ss.issuer.URL, "--ca-roots", ss.roots, "--insecure-ignore-sct", "--rekor-key", otherLog}
	if res := verifyImage(t, dir, append(notRekor, "--repository", "gantry-ci/gantry", latest)...); res.code != exitUnverified ||
		!strings.Contains(res.stdout, "✗ signature") {
		t.Errorf("verify keyless against another log's key: exit %d, want %d and a failed signature:\n%s", res.code, exitUnverified, res.stdout)
	}

	// The tag push of that commit, the same workflow at the tag, promotes
	// the digest main signed: it verifies keylessly against Fulcio's roots,
	// Rekor's key and this workflow's identity. Rekor's timestamp is what
	// keeps main's signature valid after its 10-minute certificate expires.
	t.Logf("releasing %s after the main run", time.Since(published).Round(time.Second))
	tested := digestOf(t, repo+":"+sha)
	gitRun(t, dir, "tag", "v2.0.0")
	ss.issuer.SetClaims(oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/tags/v2.0.0", sha, workflow))
	rel := run(t, dir, env, append(args, "--ref", "refs/tags/v2.0.0")...)
	if rel.code != exitOK {
		t.Fatalf("releasing: exit %d, want 0", rel.code)
	}
	if !strings.Contains(rel.stdout, "signed by workflow "+workflow+" of gantry-ci/gantry") || !strings.Contains(rel.stdout, "promoted "+tested+" (built ") {
		t.Errorf("the release does not say it promoted %s, signed by the workflow:\n%s", tested, rel.stdout)
	}
	if got := digestOf(t, repo+":2.0.0"); got != tested {
		t.Errorf("2.0.0 -> %s, want the digest main tested, %s", got, tested)
	}
	tagIdentity := "https://github.com/gantry-ci/gantry/" + workflow + "@refs/tags/v2.0.0"
	if sts := attestationsBy(t, ss.signer(tagIdentity), repo+":2.0.0", "vuln"); len(sts) != 1 {
		t.Errorf("%d scan attestations by %s, want the release's rescan", len(sts), tagIdentity)
	}

	// Issue 21: a pull request's code signs an image of its own under the
	// commit's SHA tag again. The next release of that commit neither
	// promotes it nor takes it as its run record: it runs every stage.
	signAsHostile(t, ss, pr, repo, sha, sha)
	hostile := digestOf(t, repo+":"+sha)
	gitRun(t, dir, "tag", "v2.0.1")
	ss.issuer.SetClaims(oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/tags/v2.0.1", sha, workflow))
	rel = run(t, dir, env, append(args, "--ref", "refs/tags/v2.0.1")...)
	if rel.code != exitOK {
		t.Fatalf("releasing over the pull request's image: exit %d, want 0", rel.code)
	}
	if want := "gantry: not promoting " + repo + ":" + sha + ": "; !strings.Contains(rel.stdout, want) ||
		!strings.Contains(rel.stdout, "ref refs/pull/7/merge, trigger pull_request") {
		t.Errorf("the release does not say it would not promote the pull request's image (%q, naming its ref and trigger):\n%s", want, rel.stdout)
	}
	for _, tag := range []string{"2.0.1", sha} {
		if got := digestOf(t, repo+":"+tag); got == hostile || got == "" {
			t.Errorf("%s -> %q after the release, want an image the release built, not the pull request's %s", tag, got, hostile)
		}
	}
}

// Keyless signing that can't get a token is bad input: exit 2 with one
// line, before the engine is contacted (it points nowhere here).
func TestKeylessWithoutATokenExits2(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	is, err := oidcissuer.Start(l, oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/heads/main", strings.Repeat("a", 40), ".github/workflows/ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	dir := copyRepo(t, nil)
	withToken := map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": is.TokenURL(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": is.RequestToken}
	main := oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/heads/main", strings.Repeat("a", 40), ".github/workflows/ci.yml")
	pr := oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/pull/7/merge", strings.Repeat("a", 40), ".github/workflows/ci.yml")
	pr["event_name"] = "pull_request"
	private := oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/heads/main", strings.Repeat("a", 40), ".github/workflows/ci.yml")
	private["repository_visibility"] = "private"
	for _, tt := range []struct {
		name   string
		env    map[string]string
		claims map[string]any
		args   []string
		want   string
	}{
		{name: "no id-token permission", args: []string{"--sign", "keyless"}, want: "`permissions: id-token: write`"},
		{name: "refused", env: map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": is.TokenURL(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong-request-token"},
			want: "401 Unauthorized"},
		// Issue 21: a signature nobody would accept is not made.
		{name: "a pull request's token, publishing as main", env: withToken, claims: pr, args: []string{"--event", "push", "--ref", "refs/heads/main"},
			want: "this run's OIDC token is not one whose signatures count"},
		// Issue 21: a private repository's names stay out of the public log.
		{name: "a private repository and the public log", env: withToken, claims: private,
			want: "the repository is private, and a keyless signature would write its name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			claims := main
			if tt.claims != nil {
				claims = tt.claims
			}
			is.SetClaims(claims)
			env := map[string]string{"GITHUB_TOKEN": "x", "_EXPERIMENTAL_DAGGER_RUNNER_HOST": "tcp://127.0.0.1:1"}
			for k, v := range tt.env {
				env[k] = v
			}
			image := uniqueImage("notoken")
			res := run(t, dir, env, append([]string{"--registry", reg, "--image", image, "--username", "e2e", "--engine-timeout", "5s"}, tt.args...)...)
			if res.code != exitUsage {
				t.Fatalf("exit %d, want %d", res.code, exitUsage)
			}
			if !strings.Contains(res.stderr, tt.want) || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
				t.Errorf("stderr = %q, want one line saying %q", res.stderr, tt.want)
			}
			if strings.Contains(res.stderr, "wrong-request-token") {
				t.Error("the error shows the request token")
			}
			if tags := tagsOf(t, reg+"/"+image); len(tags) > 0 {
				t.Errorf("tags %v were pushed", tags)
			}
		})
	}
}

// gantryBuildType is the buildType of Gantry's provenance
// (docs/provenance.md).
const gantryBuildType = "https://github.com/gantry-ci/gantry/blob/main/docs/provenance.md#v1"

// signAsHostile plays code that got the job's OIDC token for claims: it
// pushes an image of its own under repo:tag and signs and attests it by
// hand, with gantry-publish (any code could), the provenance claiming
// commit and main's ref.
func signAsHostile(t *testing.T, ss privateSigstore, claims map[string]any, repo, tag, commit string) {
	t.Helper()
	ss.issuer.SetClaims(claims)
	req, err := http.NewRequest(http.MethodGet, ss.issuer.TokenURL()+"&audience=sigstore", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ss.issuer.RequestToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct{ Value string }
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Value == "" {
		t.Fatalf("a token from the bed's issuer: %s %v", resp.Status, err)
	}

	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(repo+"@"+d.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prov := filepath.Join(dir, "provenance.json")
	claimsMain := fmt.Sprintf(`{"buildDefinition":{"buildType":%q,"externalParameters":{"repository":"https://github.com/gantry-ci/gantry","ref":"refs/heads/main","commit":%q}},
"runDetails":{"builder":{"id":"https://github.com/gantry-ci/gantry/.github/workflows/ci.yml@refs/heads/main"},"metadata":{"finishedOn":%q}}}`,
		gantryBuildType, commit, time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(prov, []byte(claimsMain), 0o600); err != nil {
		t.Fatal(err)
	}
	// gantry-publish's request (package publisher), written as hostile
	// code with the workflow's token would write it.
	request, err := json.Marshal(map[string]any{"Repository": repo, "Insecure": true, "Publish": map[string]any{
		"Mode": "tag", "From": d.String(), "Tags": []string{tag}, "Timeout": int64(5 * time.Minute),
		"Keyless": map[string]string{"FulcioURL": ss.fulcioURL, "RekorURL": ss.rekorURL},
		"Attest":  []map[string]string{{"Type": "slsaprovenance1", "File": prov}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "request.json"), request, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gantryPublish(t), "--request", filepath.Join(dir, "request.json"), "--output", filepath.Join(dir, "out.json"))
	cmd.Env = append(os.Environ(), "GANTRY_ID_TOKEN="+tok.Value)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("signing by hand: %v\n%s", err, out)
	}
}
