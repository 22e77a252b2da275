package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/internal/testenv"
	"github.com/gantry-ci/gantry/testbed/internal/trivydb"
)

// cosign is the real cosign CLI the bed built from its module: the
// independent verifier of what Gantry signs.
func cosign(t *testing.T) string {
	t.Helper()
	return testenv.Require(t, "the test bed provides cosign: run `go run ./testbed up` and source its env file", "TESTBED_COSIGN")[0]
}

// keyPair makes a cosign key pair with password, as a user would.
func keyPair(t *testing.T, password string) (key, pub string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(cosign(t), "generate-key-pair", "--output-key-prefix", filepath.Join(dir, "cosign"))
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	return filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
}

// signer is who cosign must find signed an image: its flags, and the
// environment they need.
type signer struct{ flags, env []string }

// keySigner is a cosign key pair's public half; signatures made with a key
// offline have no transparency-log entry to check.
func keySigner(pub string) signer {
	return signer{flags: []string{"--key", pub, "--insecure-ignore-tlog"}}
}

// cosignVerify runs `cosign verify` or `cosign verify-attestation` (verb)
// for s against the bed's plain-HTTP registries, and returns stdout.
func cosignVerify(t *testing.T, s signer, verb string, args ...string) (string, error) {
	t.Helper()
	args = append(append([]string{verb, "--allow-http-registry", "--allow-insecure-registry"}, s.flags...), args...)
	cmd := exec.Command(cosign(t), args...)
	cmd.Env = append(os.Environ(), s.env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Logf("cosign %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), err
}

// statement is the part of an in-toto statement these tests read.
type statement struct {
	Subject []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// attestations verifies repo@digest's attestations of type with cosign and
// returns their statements.
func attestations(t *testing.T, pub, ref, typ string) []statement {
	t.Helper()
	return attestationsBy(t, keySigner(pub), ref, typ)
}

// attestationsBy is attestations for any signer (a key or a keyless
// identity).
func attestationsBy(t *testing.T, s signer, ref, typ string) []statement {
	t.Helper()
	out, err := cosignVerify(t, s, "verify-attestation", "--type", typ, ref)
	if err != nil {
		t.Fatalf("cosign verify-attestation --type %s %s failed", typ, ref)
	}
	var sts []statement
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var env struct{ Payload string }
		if err := json.Unmarshal(sc.Bytes(), &env); err != nil {
			t.Fatalf("cosign printed %q: %v", sc.Text(), err)
		}
		body, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var st statement
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		sts = append(sts, st)
	}
	return sts
}

// cosignTag tells the tags signing writes from image tags: cosign's
// signature and attestation tags, and the referrers tag that lists the
// Sigstore bundles on a registry without the referrers API.
func cosignTag(tag string) bool {
	rest, ok := strings.CutPrefix(tag, "sha256-")
	rest = strings.TrimSuffix(strings.TrimSuffix(rest, ".sig"), ".att")
	_, err := hex.DecodeString(rest)
	return ok && len(rest) == 64 && err == nil
}

// imageTags are a repository's tags without cosign's.
func imageTags(t *testing.T, repo string) []string {
	var out []string
	for _, tag := range tagsOf(t, repo) {
		if !cosignTag(tag) {
			out = append(out, tag)
		}
	}
	return out
}

// verifyImage runs `gantry verify`.
func verifyImage(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return run(t, dir, nil, append([]string{"verify"}, args...)...)
}

// A wrong password is bad input: exit 2 before the engine is contacted (it
// points nowhere here), and nothing is pushed.
func TestWrongSigningPasswordPushesNothing(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	key, _ := keyPair(t, "right")
	dir := copyRepo(t, nil)
	image := uniqueImage("badpass")
	res := run(t, dir, map[string]string{"GITHUB_TOKEN": "x", "COSIGN_PASSWORD": "wrong",
		"_EXPERIMENTAL_DAGGER_RUNNER_HOST": "tcp://127.0.0.1:1"},
		"--registry", reg, "--image", image, "--username", "e2e", "--sign-key", key, "--engine-timeout", "5s")
	if res.code != exitUsage {
		t.Fatalf("exit %d, want %d", res.code, exitUsage)
	}
	if !strings.Contains(res.stderr, "wrong password") || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
		t.Errorf("stderr = %q, want one line about the wrong password", res.stderr)
	}
	if strings.Contains(res.stderr, "right") {
		t.Error("the error shows the password")
	}
	if tags := tagsOf(t, reg+"/"+image); len(tags) > 0 {
		t.Errorf("tags %v were pushed", tags)
	}
}

// refusingRegistry is an in-process registry on the engine-reachable addr
// that answers 403 to requests refuse picks, and calls served (if not nil)
// after each request it served.
func refusingRegistry(t *testing.T, addr string, refuse func(*http.Request) bool, served func(*http.Request)) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s (reserved for tests in the bed's engine.toml): %v", addr, err)
	}
	inner := registry.New()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse(r) {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"injected: refused"}]}`, http.StatusForbidden)
			return
		}
		inner.ServeHTTP(w, r)
		if served != nil {
			served(r)
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// A registry that takes the signatures but refuses the attestations fails
// the publish (exit 8) and is left with no tag at all: no image tag was
// written, and the signature tags are taken back.
func TestAttestationFailureLeavesNoTags(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	host, _, _ := strings.Cut(reg, ":")
	addr := host + ":5004"
	put := func(r *http.Request, suffix string) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256-") && strings.HasSuffix(r.URL.Path, suffix)
	}
	var sigs atomic.Int64 // signatures written before the refusal
	sigIn := make(chan struct{})
	var once sync.Once
	refusingRegistry(t, addr, func(r *http.Request) bool {
		if !put(r, ".att") {
			return false
		}
		// gantry-publish writes signatures and attestations side by side:
		// refuse the attestations once a signature is in, so that the
		// failure is in the middle of the publish whichever comes first.
		select {
		case <-sigIn:
		case <-r.Context().Done():
		}
		return true
	}, func(r *http.Request) {
		if put(r, ".sig") {
			sigs.Add(1)
			once.Do(func() { close(sigIn) })
		}
	})
	key, _ := keyPair(t, "pw")
	dir := copyRepo(t, nil)
	image := uniqueImage("attfail")
	res := run(t, dir, map[string]string{"GITHUB_TOKEN": "x", "COSIGN_PASSWORD": "pw", "GANTRY_IMAGES": imagesFile(t, addr)},
		"--registry", addr, "--image", image, "--username", "e2e", "--sign-key", key)
	if res.code != exitPublish {
		t.Fatalf("exit %d, want %d", res.code, exitPublish)
	}
	if !strings.Contains(res.stderr, "attestations") || !strings.Contains(res.stderr, "signature and attestation tags put back") {
		t.Errorf("stderr does not say the attestations failed and the signatures were taken back:\n%s", tailLines(res.stderr, 5))
	}
	if sigs.Load() == 0 {
		t.Error("no signature was written: the failure was not in the middle of the publish")
	}
	if tags := tagsOf(t, addr+"/"+image); len(tags) > 0 {
		t.Errorf("a failed publish left tags %v", tags)
	}
}

// A check of what gantry-publish did that fails ends the run with no tag
// moved (issue 21, item 4: the checks ran after the tags were written, so a
// run could exit 8 with its tags moved). The clone's publisher, built from
// its own ci module, signs but reports no signature.
func TestFailedPublishCheckLeavesNoTags(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	key, _ := keyPair(t, "pw")
	dir := copyRepo(t, func(dir string) {
		main := filepath.Join(dir, "ci", "cmd", "gantry-publish", "main.go")
		src := readFile(t, main)
		report := "res.Signed, res.Attestations, res.Identity, res.Issuer = out.Signed, out.Attestations, out.Identity, out.Issuer"
		if !strings.Contains(src, report) {
			t.Fatalf("%s no longer reports its signatures with %q: update this test", main, report)
		}
		writeFile(t, dir, "ci/cmd/gantry-publish/main.go", strings.Replace(src, report,
			"res.Attestations, res.Identity, res.Issuer = out.Attestations, out.Identity, out.Issuer // injected by the e2e test: no signatures reported", 1))
	})
	image := uniqueImage("unchecked")
	res := run(t, dir, map[string]string{"GITHUB_TOKEN": "x", "COSIGN_PASSWORD": "pw"},
		"--registry", reg, "--image", image, "--username", "e2e", "--sign-key", key)
	if res.code != exitPublish {
		t.Fatalf("exit %d, want %d", res.code, exitPublish)
	}
	if !strings.Contains(res.stderr, "signed nothing") {
		t.Errorf("stderr does not say gantry-publish signed nothing:\n%s", tailLines(res.stderr, 5))
	}
	for _, tag := range tagsOf(t, reg+"/"+image) {
		if !strings.HasPrefix(tag, "sha256-") { // the signatures it wrote tag no image
			t.Errorf("a run whose publish check failed left the tag %s", tag)
		}
	}
}

// Two publishing runs of one image at once, at a commit and its child, on
// one engine (issue 21, item 4: races and partial states). Whichever way
// they interleave, each run ends with its whole tag set or none of it: a
// run that exits 0 has its SHA tag on its own signed digest; a run that
// loses a race on a shared tag exits 8 and leaves no tag of its own; and
// latest points at a run that passed. In GitHub Actions the workflow's
// concurrency group keeps publishing runs apart; this is what holds when
// nothing does.
func TestConcurrentPublishes(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	key, pub := keyPair(t, "pw")
	first := copyRepo(t, nil)
	second := t.TempDir()
	gitRun(t, first, "clone", "-q", first, second)
	gitRun(t, second, "commit", "-q", "--allow-empty", "-m", "child")
	image := uniqueImage("race")
	repo := reg + "/" + image
	dirs := []string{first, second}
	results := make([]result, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = run(t, dir, map[string]string{"GITHUB_TOKEN": "x", "COSIGN_PASSWORD": "pw"},
				"--registry", reg, "--image", image, "--username", "e2e", "--sign-key", key)
		}()
	}
	wg.Wait()

	passed := map[string]bool{} // digests of the runs that exited 0
	for i, dir := range dirs {
		sha, res := headSHA(t, dir), results[i]
		d := digestOf(t, repo+":"+sha)
		switch res.code {
		case exitOK:
			if d == "" {
				t.Errorf("run %d exited 0 without its SHA tag", i)
				continue
			}
			if _, err := cosignVerify(t, keySigner(pub), "verify", repo+"@"+d); err != nil {
				t.Errorf("run %d: cosign verify %s@%s failed", i, repo, d)
			}
			passed[d] = true
		case exitPublish:
			if !strings.Contains(res.stderr, "raced") {
				t.Errorf("run %d exited 8 for another reason than the race:\n%s", i, tailLines(res.stderr, 10))
			}
			if d != "" {
				t.Errorf("run %d failed but left its SHA tag on %s", i, d)
			}
		default:
			t.Errorf("run %d: exit %d, want 0 or 8 (lost the race)", i, res.code)
		}
	}
	if len(passed) == 0 {
		t.Fatal("neither run published")
	}
	if l := digestOf(t, repo+":latest"); !passed[l] {
		t.Errorf("latest -> %q, not the digest of a run that passed %v", l, passed)
	}
}

// pushUnsigned pushes a random image nobody signed and returns its ref.
func pushUnsigned(t *testing.T, reg string) string {
	t.Helper()
	return pushUnsignedAs(t, reg+"/"+uniqueImage("unsigned")+":v1")
}

// checkSigned checks a key-signed publish with the real cosign, then with
// `gantry verify`: every digest signed; provenance, SBOMs and scan attested
// on the index; the provenance naming the commit and the Trivy DB digest.
func checkSigned(t *testing.T, dir, repo, sha, digest string, platforms []string, pub string) {
	t.Helper()
	if !strings.Contains(run(t, dir, nil, "--help").stdout, "verify") {
		t.Error("--help does not mention verify")
	}
	for _, d := range append([]string{digest}, platforms...) {
		if _, err := cosignVerify(t, keySigner(pub), "verify", repo+"@"+d); err != nil {
			t.Errorf("cosign verify %s@%s failed", repo, d)
		}
	}
	ref := repo + "@" + digest
	db := dbDigest(t)

	prov := attestations(t, pub, ref, "slsaprovenance1")
	if len(prov) != 1 {
		t.Fatalf("%d provenance attestations, want 1", len(prov))
	}
	if got := prov[0].Subject[0].Digest["sha256"]; "sha256:"+got != digest {
		t.Errorf("provenance subject sha256:%s, want %s", got, digest)
	}
	var p struct {
		BuildDefinition struct {
			ExternalParameters struct {
				Commit, Repository string
				Platforms          []string
			}
			ResolvedDependencies []struct {
				Name   string
				Digest map[string]string
			}
		}
	}
	if err := json.Unmarshal(prov[0].Predicate, &p); err != nil {
		t.Fatal(err)
	}
	if ep := p.BuildDefinition.ExternalParameters; ep.Commit != sha || ep.Repository != "https://github.com/gantry-ci/gantry" || len(ep.Platforms) != 2 {
		t.Errorf("provenance parameters = %+v, want commit %s of gantry-ci/gantry, 2 platforms", ep, sha)
	}
	deps := map[string]string{}
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		deps[d.Name] = "sha256:" + d.Digest["sha256"]
	}
	if deps["trivy-db"] != db {
		t.Errorf("provenance names Trivy DB %s, want %s", deps["trivy-db"], db)
	}
	for _, role := range []string{"go", "runtime", "postgres", "trivy", "probe"} {
		if len(deps[role]) != len("sha256:")+64 {
			t.Errorf("provenance has no digest for the %s image: %v", role, deps)
		}
	}

	if sboms := attestations(t, pub, ref, "cyclonedx"); len(sboms) != 2 {
		t.Errorf("%d SBOM attestations, want one per platform", len(sboms))
	} else if !strings.Contains(string(sboms[0].Predicate), `"bomFormat":"CycloneDX"`) {
		t.Errorf("the SBOM predicate is not CycloneDX: %.200s", sboms[0].Predicate)
	}

	scans := attestations(t, pub, ref, "vuln")
	if len(scans) != 1 {
		t.Fatalf("%d scan attestations, want 1", len(scans))
	}
	var v struct {
		Scanner struct {
			DB     struct{ Version string }
			Result struct {
				Gate struct {
					Passed     bool
					Severities []string
				}
				Reports map[string]json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(scans[0].Predicate, &v); err != nil {
		t.Fatal(err)
	}
	if v.Scanner.DB.Version != db || !v.Scanner.Result.Gate.Passed || len(v.Scanner.Result.Reports) != 2 {
		t.Errorf("scan attestation: DB %s (want %s), passed %v, %d reports", v.Scanner.DB.Version, db, v.Scanner.Result.Gate.Passed, len(v.Scanner.Result.Reports))
	}

	// gantry verify: passes with the key, and not with another key or on
	// an unsigned image.
	res := verifyImage(t, dir, "--key", pub, "--repository", "gantry-ci/gantry", "--commit", sha, repo+":latest")
	if res.code != exitOK || strings.Count(res.stdout, "✓") != 4 || !strings.Contains(res.stdout, "✓ tag") ||
		!strings.Contains(res.stdout, "verified "+repo+":latest@"+digest) {
		t.Errorf("verify: exit %d, want 0 and four passing checks (signature, provenance, scan, tag):\n%s", res.code, res.stdout)
	}
	// A registry writer points a tag of its own at the signed digest:
	// every signature verifies, but no signed record published it as that
	// tag (issue 21, item 3).
	r, err := name.ParseReference(repo+"@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	planted, err := name.NewTag(repo+":stable", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(planted, desc); err != nil {
		t.Fatal(err)
	}
	if res := verifyImage(t, dir, "--key", pub, "--repository", "gantry-ci/gantry", repo+":stable"); res.code != exitUnverified ||
		!strings.Contains(res.stdout, "✗ tag") || !strings.Contains(res.stdout, "✓ signature") {
		t.Errorf("verify of a tag a registry writer planted: exit %d, want %d with the tag check failed:\n%s", res.code, exitUnverified, res.stdout)
	}
	_, otherPub := keyPair(t, "other")
	if res := verifyImage(t, dir, "--key", otherPub, "--repository", "gantry-ci/gantry", repo+":latest"); res.code != exitUnverified ||
		!strings.Contains(res.stdout, "✗ signature") {
		t.Errorf("verify with another key: exit %d, want %d and a failed signature:\n%s", res.code, exitUnverified, res.stdout)
	}
	unsigned := pushUnsigned(t, strings.SplitN(repo, "/", 2)[0])
	if res := verifyImage(t, dir, "--key", pub, "--repository", "gantry-ci/gantry", unsigned); res.code != exitUnverified ||
		!strings.Contains(res.stdout, "✗ signature") || !strings.Contains(res.stdout, "NOT verified") {
		t.Errorf("verify of an unsigned image: exit %d, want %d:\n%s", res.code, exitUnverified, res.stdout)
	}
	if res := verifyImage(t, dir, "--key", pub, "--repository", "gantry-ci/gantry", "--commit", strings.Repeat("0", 40), repo+":latest"); res.code != exitUnverified ||
		!strings.Contains(res.stdout, "✗ provenance") {
		t.Errorf("verify for another commit: exit %d, want %d:\n%s", res.code, exitUnverified, res.stdout)
	}
}

// dbDigest is the digest of the bed's Trivy DB, read from its registry.
func dbDigest(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(os.Getenv("GANTRY_IMAGES"))
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		DB string `json:"trivy_db_repository"`
	}
	if err := json.Unmarshal(data, &set); err != nil || set.DB == "" {
		t.Fatalf("the bed's image set names no Trivy DB: %v", err)
	}
	d := digestOf(t, set.DB)
	if d == "" {
		t.Fatalf("can't read %s", set.DB)
	}
	return d
}

// A release tag of a commit whose signed SHA-tag image verifies is not
// rebuilt: the digest tested on main is rescanned, attested again and
// tagged. One that someone re-pushed unsigned is rebuilt instead.
func TestPromotion(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	key, pub := keyPair(t, "pw")
	env := map[string]string{"GITHUB_TOKEN": "x", "COSIGN_PASSWORD": "pw"}
	publish := func(t *testing.T, dir, image string, args ...string) result {
		t.Helper()
		return run(t, dir, env, append([]string{"--registry", reg, "--image", image, "--username", "e2e",
			"--repository", "gantry-ci/gantry", "--sign-key", key}, args...)...)
	}

	t.Run("the tested digest is released", func(t *testing.T) {
		t.Parallel()
		dir := copyRepo(t, nil)
		image := uniqueImage("promote")
		repo := reg + "/" + image
		if res := publish(t, dir, image); res.code != exitOK {
			t.Fatalf("publishing main: exit %d", res.code)
		}
		sha := headSHA(t, dir)
		tested := digestOf(t, repo+":"+sha)

		// A fresh runner (each run here has a run cache of its own)
		// re-running main finds the signed record of that run, and does
		// nothing: no stage runs, no tag moves.
		again := publish(t, dir, image)
		if again.code != exitOK || !strings.Contains(again.stdout, "gantry: cached: the signed provenance of "+repo+":"+sha+"@"+tested) {
			t.Errorf("re-running main: exit %d; want 0 and a hit on the signed record:\n%s", again.code, again.stdout)
		}
		for _, st := range []string{"test", "build", "smoke", "scan", "publish"} {
			if !strings.Contains(again.stdout, "| "+st+" | ♻️ cached") {
				t.Errorf("the re-run's %s stage is not cached", st)
			}
		}
		if strings.Contains(again.stdout, "build    started") {
			t.Error("the re-run built")
		}
		if got := digestOf(t, repo+":latest"); got != tested {
			t.Errorf("latest -> %s after the re-run, want %s", got, tested)
		}

		gitRun(t, dir, "tag", "v1.2.3")
		res := publish(t, dir, image, "--ref", "refs/tags/v1.2.3")
		if res.code != exitOK {
			t.Fatalf("releasing: exit %d", res.code)
		}
		if !strings.Contains(res.stdout, "promoted "+tested+" (built ") || !strings.Contains(res.stdout, "from "+sha+")") {
			t.Errorf("stdout does not say `promoted %s (built … from %s)`", tested, sha)
		}
		for _, st := range []string{"test", "build", "smoke"} {
			if !strings.Contains(res.stdout, "| "+st+" | ⏭️ skipped") {
				t.Errorf("the %s stage ran in a promotion", st)
			}
		}
		for _, tag := range []string{"1.2.3", "1.2", "1", "latest", sha} {
			if got := digestOf(t, repo+":"+tag); got != tested {
				t.Errorf("%s -> %s, want the tested digest %s", tag, got, tested)
			}
		}
		if scans := attestations(t, pub, repo+"@"+tested, "vuln"); len(scans) != 2 {
			t.Errorf("%d scan attestations after the promotion, want 2 (the build's and the release's)", len(scans))
		}
	})

	// A rescan that fails is attested, so the digest's newest scan is the
	// truth: `verify`, which passed, now fails (issue 21, item 3: a failed
	// rescan left no trace, and verify kept reading the build's clean one).
	t.Run("a failed rescan is attested", func(t *testing.T) {
		t.Parallel()
		dir := copyRepo(t, nil)
		image := uniqueImage("rescan")
		repo := reg + "/" + image
		if res := publish(t, dir, image); res.code != exitOK {
			t.Fatalf("publishing main: exit %d", res.code)
		}
		tested := digestOf(t, repo+":"+headSHA(t, dir))
		if res := verifyImage(t, dir, "--key", pub, "--repository", "gantry-ci/gantry", repo+"@"+tested); res.code != exitOK {
			t.Fatalf("verify before the rescan: exit %d, want 0:\n%s", res.code, res.stdout)
		}

		// Since then, a DB with an advisory for a module the service links.
		db := reg + "/" + uniqueImage("trivy-db") + ":2"
		pushDB(t, db, append(slices.Clone(trivydb.Advisories), trivydb.Advisory{
			ID: "GANTRY-E2E-0001", GHSA: "GHSA-gant-ry00-e2e1", Module: "golang.org/x/text",
			Vulnerable: []string{">= 0"}, Severity: types.SeverityHigh,
			Title: "made up by the e2e test: every golang.org/x/text", Published: trivydb.Day(time.Now()),
		}), trivydb.Day(time.Now()))
		gitRun(t, dir, "tag", "v1.0.0")
		renv := maps.Clone(env)
		renv["GANTRY_IMAGES"] = imagesWithDB(t, db)
		res := run(t, dir, renv, "--registry", reg, "--image", image, "--username", "e2e",
			"--repository", "gantry-ci/gantry", "--sign-key", key, "--ref", "refs/tags/v1.0.0")
		if res.code != exitScanFindings {
			t.Fatalf("releasing with the new DB: exit %d, want %d", res.code, exitScanFindings)
		}
		if !strings.Contains(res.stdout, "attested the failed rescan of "+tested) {
			t.Errorf("the run does not say it attested the failed rescan:\n%s", tailLines(res.stdout, 20))
		}
		if d := digestOf(t, repo+":1.0.0"); d != "" {
			t.Errorf("a failed rescan tagged 1.0.0 -> %s", d)
		}
		if scans := attestations(t, pub, repo+"@"+tested, "vuln"); len(scans) != 2 {
			t.Errorf("%d scan attestations, want 2 (the build's and the failed rescan's)", len(scans))
		}
		if res := verifyImage(t, dir, "--key", pub, "--repository", "gantry-ci/gantry", repo+"@"+tested); res.code != exitUnverified ||
			!strings.Contains(res.stdout, "✗ scan") || !strings.Contains(res.stdout, "GANTRY-E2E-0001") {
			t.Errorf("verify after the failed rescan: exit %d, want %d with a failed scan naming GANTRY-E2E-0001:\n%s", res.code, exitUnverified, res.stdout)
		}
	})

	t.Run("an unsigned re-push is rebuilt", func(t *testing.T) {
		t.Parallel()
		dir := copyRepo(t, nil)
		image := uniqueImage("repushed")
		repo := reg + "/" + image
		sha := headSHA(t, dir)
		forged := digestOf(t, pushUnsignedAs(t, repo+":"+sha))
		gitRun(t, dir, "tag", "v1.0.0")
		res := publish(t, dir, image, "--ref", "refs/tags/v1.0.0")
		if res.code != exitOK {
			t.Fatalf("releasing: exit %d", res.code)
		}
		if !strings.Contains(res.stdout, "not promoting "+repo+":"+sha) || !strings.Contains(res.stdout, "no valid signature") {
			t.Errorf("stdout does not say why the re-pushed image is not promoted")
		}
		if !strings.Contains(res.stdout, "| build | ✅ passed") {
			t.Error("the build did not run")
		}
		released := digestOf(t, repo+":1.0.0")
		if released == forged || released == "" || digestOf(t, repo+":"+sha) != released {
			t.Errorf("1.0.0 -> %s, %s -> %s; want both at a new build, not the re-pushed %s", released, sha, digestOf(t, repo+":"+sha), forged)
		}
		if _, err := cosignVerify(t, keySigner(pub), "verify", repo+":1.0.0"); err != nil {
			t.Error("the rebuilt release does not verify")
		}
	})
}

// pushUnsignedAs pushes a random image nobody signed to ref.
func pushUnsignedAs(t *testing.T, ref string) string {
	t.Helper()
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	return ref
}
