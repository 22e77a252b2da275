package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/internal/testenv"
	"github.com/gantry-ci/gantry/testbed/internal/state"
	"github.com/gantry-ci/gantry/testbed/internal/trustroot"
)

// nodeImages is the bed's image set with hello-node's Node.js image
// replaced by the bed's stand-in, as a mirror's would be.
func nodeImages(t *testing.T) string {
	t.Helper()
	node := testenv.Require(t, "the test bed has no Node.js stand-in: run `go run ./testbed up` again and source the env file it prints", "TESTBED_NODE_IMAGE")[0]
	return imagesWith(t, func(set *state.Images) { set.Project = map[string]string{"NODE_IMAGE": node} })
}

// A service that differs from this repository's in every dimension that
// ci/main.go declares (issue 22): Node.js, not Go; its tests a command in
// its own pinned image; port 3000, /healthz, user node, no database; a
// scan that must cover the OS packages, where Node.js comes from. Its
// ci/main.go only declares. It is tested, built, smoke-tested, scanned,
// signed and published, and `gantry verify` passes.
func TestAnotherService(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	images := nodeImages(t)
	dir := copyProject(t, "hello-node", nil)
	key, pub := keyPair(t, "node")
	image := uniqueImage("hello-node")
	repo := reg + "/" + image
	res := run(t, dir, map[string]string{"GITHUB_TOKEN": "x", "COSIGN_PASSWORD": "node", "GANTRY_IMAGES": images},
		"--registry", reg, "--image", image, "--username", "e2e", "--repository", "gantry-ci/hello-node", "--sign-key", key)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0:\n%s\n%s", res.code, tailLines(res.stdout, 30), tailLines(res.stderr, 30))
	}
	sha := headSHA(t, dir)
	// The declared tag rules: the branch, a raw tag, a suffix on all but
	// the commit SHA.
	got := imageTags(t, repo)
	slices.Sort(got)
	if want := []string{sha, "edge-node", "latest-node", "main-node"}; !slices.Equal(got, want) {
		t.Errorf("tags %q, want %q", got, want)
	}
	for arch, img := range publishedImages(t, repo+":"+sha) {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != "node" || cf.Config.Labels["org.opencontainers.image.title"] != "hello-node" {
			t.Errorf("%s: user %q, title %q: want the Dockerfile's user and the declared title", arch, cf.Config.User, cf.Config.Labels["org.opencontainers.image.title"])
		}
		if got := string(imageFile(t, img, "srv/hello/server.js")); !strings.Contains(got, "hello-node listens") {
			t.Errorf("%s: /srv/hello/server.js is not the service's", arch)
		}
	}
	v := verifyImage(t, dir, "--key", pub, "--repository", "gantry-ci/hello-node", "--commit", sha, repo+":"+sha)
	if v.code != exitOK || !strings.Contains(v.stdout, "✓ scan") {
		t.Errorf("verify: exit %d, want 0 with the scan checked:\n%s\n%s", v.code, v.stdout, v.stderr)
	}

	// Issue 23: cosign v3 reads the bundles signed with the key (offline:
	// a trusted root that trusts nothing else, and no log entries to
	// check), and refuses them with another key.
	_, otherPub := keyPair(t, "other")
	noSigstore := writeTrustedRoot(t, trustroot.Sigstore{})
	pinned := repo + "@" + digestOf(t, repo+":"+sha)
	for _, verb := range [][]string{{"verify"}, {"verify-attestation", "--type", "slsaprovenance1"}} {
		with := func(pub string) (string, error) {
			return cosign3Verify(t, verb[0], noSigstore, append(verb[1:], "--key", pub, "--insecure-ignore-tlog", pinned)...)
		}
		// verify shows it read the bundles; verify-attestation reads them
		// too when an image has any.
		if out, err := with(pub); err != nil || (verb[0] == "verify" && !strings.Contains(out, bundleSigned)) {
			t.Errorf("cosign v3 %s --key: %v, want it to pass on the bundles:\n%s", strings.Join(verb, " "), err, out)
		}
		if _, err := with(otherPub); err == nil {
			t.Errorf("cosign v3 %s accepts another key", strings.Join(verb, " "))
		}
	}

	// gantry-verify, as a deployer runs it: on the host, with no engine
	// (the runner host points nowhere) and no checkout. Its verdict is
	// verify's, line for line, and its JSON says the same.
	hostVerify := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(verifierBin.get(t), args...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "_EXPERIMENTAL_DAGGER_RUNNER_HOST=tcp://127.0.0.1:1", "DOCKER_HOST=tcp://127.0.0.1:1", "GITHUB_TOKEN=")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("running gantry-verify: %v", err)
		}
		return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	}
	args := []string{"--key", pub, "--repository", "gantry-ci/hello-node", "--commit", sha, repo + ":" + sha}
	if h := hostVerify(args...); h.code != exitOK || h.stdout != v.stdout {
		t.Errorf("gantry-verify: exit %d, want 0 and verify's lines:\n%s\n%s\nverify said:\n%s", h.code, h.stdout, h.stderr, v.stdout)
	}
	j := hostVerify(append([]string{"--output", "json"}, args...)...)
	var report struct {
		Verified bool
		Digest   string
		Checks   []struct {
			Name string
			OK   bool
		}
	}
	if err := json.Unmarshal([]byte(j.stdout), &report); err != nil || j.code != exitOK || !report.Verified || len(report.Checks) < 3 || report.Digest == "" {
		t.Errorf("gantry-verify --output json: exit %d, %+v (%v):\n%s", j.code, report, err, j.stdout)
	}
	if h := hostVerify("--key", otherPub, "--repository", "gantry-ci/hello-node", repo+":"+sha); h.code != exitUnverified || !strings.Contains(h.stdout, "✗ signature") {
		t.Errorf("gantry-verify with another key: exit %d, want %d and a failed signature:\n%s\n%s", h.code, exitUnverified, h.stdout, h.stderr)
	}
}

// What hello-node declares is what its run checks: its test command, its
// smoke contract with a dependency of its own, and what its scan must
// cover. A broken declaration exits with its stage's code and says why.
func TestAnotherServiceAsDeclared(t *testing.T) {
	t.Parallel()
	bed(t)
	images := nodeImages(t)
	// edit makes the changes (from, to, from, to…) in file.
	edit := func(file string, changes ...string) func(dir string) {
		return func(dir string) {
			p := filepath.Join(dir, file)
			text := readFile(t, p)
			for i := 0; i < len(changes); i += 2 {
				if !strings.Contains(text, changes[i]) {
					t.Fatalf("%s has no %q to change", file, changes[i])
				}
				text = strings.Replace(text, changes[i], changes[i+1], 1)
			}
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// /upstream relays what $UPSTREAM_URL answers: a dependency, checked.
	upstream := []string{
		`Env:    map[string]string{"GREETING": "hello from the smoke test"},`,
		`Env:    map[string]string{"GREETING": "hello from the smoke test", "UPSTREAM_URL": "http://upstream:4000/"},`,
		`Checks: []gantry.Check{`, `Checks: []gantry.Check{{Path: "/upstream", Body: "hi from upstream"}, `,
	}
	dependency := append(upstream, `Port:   3000,`, `Port:   3000,
			Services: []gantry.Service{{Name: "upstream", Image: "NODE_IMAGE", Port: 4000,
				Args: []string{"node", "-e", "require('http').createServer((q, s) => s.end('hi from upstream')).listen(4000)"}}},`)
	for _, tt := range []struct {
		name string
		edit func(dir string)
		args []string
		code int
		says string
	}{
		{name: "a dependency of its own", edit: edit("ci/main.go", dependency...),
			args: []string{"--dry-run", "--skip-tests"}, code: exitOK, says: `GET /upstream -> 200`},
		{name: "a dependency missing", edit: edit("ci/main.go", upstream...),
			args: []string{"--dry-run", "--skip-tests"}, code: exitSmoke, says: "GET /upstream"},
		{name: "a failing test command", edit: edit("app.test.js", "assert.strictEqual(status, 404);", "assert.strictEqual(status, 410);"),
			args: []string{"--dry-run"}, code: exitTest, says: "tests failed: command node --test (exit 1)"},
		{name: "a broken smoke contract", edit: edit("ci/main.go", `Body: "hello from the smoke test"}`, `Body: "bonjour"}`),
			args: []string{"--dry-run", "--skip-tests"}, code: exitSmoke, says: "GET /hello"},
		{name: "a scan that must cover the entrypoint", edit: edit("ci/main.go", "gantry.Scan{Covers: []gantry.Coverage{gantry.CoversOSPackages}}", "gantry.Scan{}"),
			args: []string{"--dry-run", "--skip-tests"}, code: exitScanError, says: "Trivy did not see node"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := copyProject(t, "hello-node", tt.edit)
			res := runProgram(t, buildPipeline(t, dir), dir, map[string]string{"GANTRY_IMAGES": images}, nil, tt.args...)
			if res.code != tt.code || !strings.Contains(res.stdout+res.stderr, tt.says) {
				t.Errorf("exit %d, want %d and %q:\n%s\n%s", res.code, tt.code, tt.says, tailLines(res.stdout, 30), tailLines(res.stderr, 30))
			}
		})
	}
}

// stepOutputs reads $GITHUB_OUTPUT as the runner does, for a later job:
// name=value, or name<<DELIMITER, lines, DELIMITER.
func stepOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lines := strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		if name, delim, ok := strings.Cut(lines[i], "<<"); ok && !strings.Contains(name, "=") {
			var value []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				value = append(value, lines[i])
			}
			if i == len(lines) {
				t.Fatalf("%s: output %s has no closing %s", path, name, delim)
			}
			out[name] = strings.Join(value, "\n")
			continue
		}
		name, value, ok := strings.Cut(lines[i], "=")
		if !ok {
			t.Fatalf("%s: line %q is no output", path, lines[i])
		}
		out[name] = value
	}
	return out
}

// In GitHub Actions (issue 24): each stage's log is a folded group, a
// failed stage is an error annotation, and a later job reads the outputs
// in metadata-action's shapes.
func TestAnotherServiceInActions(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	images := nodeImages(t)
	image := uniqueImage("actions")
	repo := reg + "/" + image
	outputs := filepath.Join(t.TempDir(), "output")
	// GitHub's code scanning endpoints, as a stand-in: the upload answers
	// 202 to the token with security-events: write, 403 to any other; the
	// upload's status says it is processed.
	type upload struct {
		commit, ref string
		runs        int
	}
	uploads := make(chan upload, 4)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer can-write" {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"message":"Resource not accessible by integration"}`)
			return
		}
		if r.Method == http.MethodGet && r.URL.Path == "/repos/gantry-ci/hello-node/code-scanning/sarifs/e2e-upload" {
			io.WriteString(w, `{"processing_status":"complete","analyses_url":null}`)
			return
		}
		var body struct{ Commit_SHA, Ref, Sarif string }
		var sarif struct{ Runs []json.RawMessage }
		gz, err := base64.StdEncoding.DecodeString(func() string { json.NewDecoder(r.Body).Decode(&body); return body.Sarif }())
		zr, zerr := gzip.NewReader(bytes.NewReader(gz))
		if err != nil || zerr != nil || r.URL.Path != "/repos/gantry-ci/hello-node/code-scanning/sarifs" || json.NewDecoder(zr).Decode(&sarif) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		uploads <- upload{body.Commit_SHA, body.Ref, len(sarif.Runs)}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"id":"e2e-upload"}`)
	}))
	defer api.Close()
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": filepath.Join(t.TempDir(), "summary"),
		"GITHUB_TOKEN": "can-write", "GANTRY_IMAGES": images, "GANTRY_UPLOAD_SARIF": "true", "GITHUB_API_URL": api.URL}
	// One platform (the bed's Node.js is amd64), no layer cache.
	args := []string{"--registry", reg, "--image", image, "--username", "e2e", "--repository", "gantry-ci/hello-node",
		"--platform", "linux/amd64", "--layer-cache", "off"}

	dir := copyProject(t, "hello-node", nil)
	res := run(t, dir, env, args...)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0", res.code)
	}
	groups := strings.Count(res.stdout, "\n::group::gantry: ")
	if groups < 3 || strings.Count(res.stdout, "\n::endgroup::\n") != groups || !strings.Contains(res.stdout, "::group::gantry: smoke\n") {
		t.Errorf("%d groups (want test, smoke, scan, publish… each closed):\n%s", groups, res.stdout)
	}
	sha := headSHA(t, dir)
	got := stepOutputs(t, outputs)
	wantTags := []string{repo + ":" + sha, repo + ":main-node", repo + ":edge-node", repo + ":latest-node"}
	if got["digest"] != digestOf(t, repo+":"+sha) || got["version"] != sha[:12] || !slices.Equal(strings.Split(got["tags"], "\n"), wantTags) {
		t.Errorf("outputs digest %q, version %q, tags %q; want %s's digest, %s, %q", got["digest"], got["version"], got["tags"], sha, sha[:12], wantTags)
	}
	if want := imageID(t, repo+":"+sha); got["imageid"] != want {
		t.Errorf("output imageid %q, want %q (buildx's: the index's digest, or the image's config digest)", got["imageid"], want)
	}
	if !strings.Contains(got["labels"], "org.opencontainers.image.title=hello-node\n") || !strings.Contains(got["annotations"], "index:org.opencontainers.image.revision="+sha) {
		t.Errorf("outputs labels %q, annotations %q", got["labels"], got["annotations"])
	}
	var js struct{ Tags []string }
	if err := json.Unmarshal([]byte(got["json"]), &js); err != nil || !slices.Equal(js.Tags, wantTags) {
		t.Errorf("output json %q (%v): tags want %q", got["json"], err, wantTags)
	}

	// The findings went to code scanning, for the commit and its ref.
	select {
	case u := <-uploads:
		if u.commit != sha || u.ref != "refs/heads/main" || u.runs != 1 {
			t.Errorf("code scanning got commit %s, ref %s, %d run(s); want %s, refs/heads/main, 1", u.commit, u.ref, u.runs, sha)
		}
	default:
		t.Error("nothing was uploaded to code scanning")
	}
	if !strings.Contains(res.stdout, "gantry: code scanning processed upload e2e-upload") {
		t.Errorf("the run did not wait for code scanning to process the upload:\n%s", tailLines(res.stdout, 10))
	}
	// A token without security-events: write: a warning, not a failure.
	refused := maps.Clone(env)
	refused["GITHUB_TOKEN"] = "read-only"
	if res := run(t, dir, refused, args...); res.code != exitOK || !strings.Contains(res.stdout+res.stderr, "::warning title=gantry::uploading to code scanning: 403 Forbidden") {
		t.Errorf("a refused upload: exit %d, want 0 and a warning annotation:\n%s\n%s", res.code, tailLines(res.stdout, 10), tailLines(res.stderr, 10))
	}

	// The run report a script reads: reports/run.json.
	var runJSON struct {
		Passed bool
		Digest string
		Tags   []string
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "reports", "run.json"))), &runJSON); err != nil ||
		!runJSON.Passed || runJSON.Digest != got["digest"] || !slices.Equal(runJSON.Tags, wantTags) {
		t.Errorf("reports/run.json: %+v (%v), want passed with the outputs' digest and tags", runJSON, err)
	}

	broken := copyProject(t, "hello-node", func(dir string) {
		main := readFile(t, filepath.Join(dir, "ci", "main.go"))
		writeFile(t, dir, "ci/main.go", strings.Replace(main, `Body: "hello from the smoke test"}`, `Body: "bonjour"}`, 1))
	})
	bin := buildPipeline(t, broken)
	res = runProgram(t, bin, broken, env, nil, append(args, "--dry-run")...)
	if res.code != exitSmoke || !strings.Contains(res.stdout, "::error title=gantry%3A smoke failed (exit 5)::") {
		t.Errorf("a broken contract in Actions: exit %d, want %d and an error annotation:\n%s", res.code, exitSmoke, tailLines(res.stdout, 20))
	}
	// --output json: stdout is the report alone, failed as the exit code says.
	res = runProgram(t, bin, broken, map[string]string{"GANTRY_IMAGES": images}, nil, "--dry-run", "--skip-tests", "--output", "json")
	var failed struct {
		Passed   bool
		ExitCode int
		Stages   []struct{ Name, Status string }
	}
	if err := json.Unmarshal([]byte(res.stdout), &failed); err != nil || res.code != exitSmoke || failed.Passed || failed.ExitCode != exitSmoke ||
		!slices.ContainsFunc(failed.Stages, func(s struct{ Name, Status string }) bool { return s.Name == "smoke" && s.Status == "failed" }) {
		t.Errorf("--output json: exit %d, report %+v (%v):\n%s", res.code, failed, err, res.stdout)
	}
}
