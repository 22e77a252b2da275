package e2e

import (
	"archive/tar"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The pipeline's exit codes, as docs/pipeline.md documents them ("Exit codes").
// They are restated here, not imported, because they are the interface
// these tests check.
const (
	exitOK           = 0
	exitInternal     = 1 // internal error, engine unreachable, interrupted
	exitUsage        = 2
	exitTest         = 3
	exitBuild        = 4
	exitSmoke        = 5
	exitScanFindings = 6
	exitScanError    = 7
	exitPublish      = 8
	exitUnverified   = 9 // verify: a check failed
)

// A full run on two platforms: tests, build, smoke, scan, publish. Every tag
// resolves to one index digest; labels, user, healthcheck and reports are
// there; each platform's binary is built for its architecture.
func TestFullRunPublishesMultiArch(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	dir := copyRepo(t, nil)
	image := uniqueImage("full")
	out := filepath.Join(t.TempDir(), "github-output")
	key, pub := keyPair(t, "e2e-password")
	res := run(t, dir, map[string]string{"GITHUB_TOKEN": "unused-by-this-registry", "GITHUB_OUTPUT": out, "COSIGN_PASSWORD": "e2e-password"},
		"--registry", reg, "--image", image, "--username", "e2e", "--repository", "gantry-ci/gantry",
		"--platform", "linux/amd64,linux/arm64", "--report-dir", filepath.Join(dir, "reports"), "--sign-key", key)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0", res.code)
	}
	sha := headSHA(t, dir)
	repo := reg + "/" + image
	tags := imageTags(t, repo)
	slices.Sort(tags)
	want := []string{"latest", sha}
	slices.Sort(want)
	if !slices.Equal(tags, want) {
		t.Fatalf("tags = %v, want %v", tags, want)
	}

	ref, _ := name.ParseReference(repo+":latest", name.Insecure)
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("latest is not an index: %v", err)
	}
	digest, _ := idx.Digest()
	shaRef, _ := name.ParseReference(repo+":"+sha, name.Insecure)
	if d, err := remote.Head(shaRef); err != nil || d.Digest != digest {
		t.Errorf("%s -> %v (%v), want %s", sha, d, err, digest)
	}
	if !strings.Contains(res.stdout, repo+":"+sha+"@"+digest.String()) {
		t.Errorf("stdout does not print %s:%s@%s", repo, sha, digest)
	}
	if data, err := os.ReadFile(out); err != nil || !strings.Contains(string(data), "digest="+digest.String()) {
		t.Errorf("GITHUB_OUTPUT = %q (%v), want digest=%s", data, err, digest)
	}

	im, _ := idx.IndexManifest()
	// The index carries the images' OCI labels (GHCR shows those of an
	// index), the ones ci/main.go declares among them.
	for k, v := range map[string]string{
		"org.opencontainers.image.revision": sha,
		"org.opencontainers.image.licenses": "MIT",
		"org.opencontainers.image.source":   "https://github.com/gantry-ci/gantry",
	} {
		if im.Annotations[k] != v {
			t.Errorf("index annotation %s = %q, want %q", k, im.Annotations[k], v)
		}
	}
	arches := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	if len(im.Manifests) != 2 {
		t.Fatalf("index has %d manifests, want 2", len(im.Manifests))
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		want, ok := arches[cf.Architecture]
		if !ok || d.Platform == nil || d.Platform.Architecture != cf.Architecture {
			t.Errorf("manifest %s: platform %v, config arch %s", d.Digest, d.Platform, cf.Architecture)
			continue
		}
		delete(arches, cf.Architecture)
		if got := binaryMachine(t, img, "app"); got != want {
			t.Errorf("%s: /app is for %v, want %v", cf.Architecture, got, want)
		}
		if cf.Config.User != "65532:65532" {
			t.Errorf("%s: user = %q", cf.Architecture, cf.Config.User)
		}
		if hc := cf.Config.Healthcheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD", "/app", "healthcheck"}) {
			t.Errorf("%s: healthcheck = %+v", cf.Architecture, hc)
		}
		for k, v := range map[string]string{
			"org.opencontainers.image.revision": sha,
			"org.opencontainers.image.source":   "https://github.com/gantry-ci/gantry",
			"org.opencontainers.image.created":  "2026-11-01T10:00:00Z",
			"org.opencontainers.image.licenses": "MIT",
		} {
			if cf.Config.Labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", cf.Architecture, k, cf.Config.Labels[k], v)
			}
		}
	}
	for _, f := range []string{"trivy-linux-amd64.json", "trivy-linux-arm64.json", "trivy-linux-amd64.sarif", "sbom-linux-arm64.cdx.json"} {
		if st, err := os.Stat(filepath.Join(dir, "reports", f)); err != nil || st.Size() == 0 {
			t.Errorf("report %s: %v", f, err)
		}
	}
	var platforms []string
	for _, d := range im.Manifests {
		platforms = append(platforms, d.Digest.String())
	}
	checkSigned(t, dir, repo, sha, digest.String(), platforms, pub)
}

// binaryMachine reads the ELF machine of file in img's layers.
func binaryMachine(t *testing.T, img v1.Image, file string) elf.Machine {
	t.Helper()
	head := imageFile(t, img, file)
	if len(head) < 20 {
		t.Fatalf("%s: %d bytes, not an ELF file", file, len(head))
	}
	return elf.Machine(uint16(head[18]) | uint16(head[19])<<8)
}

// imageFile reads file from img's layers, the topmost that has it.
func imageFile(t *testing.T, img v1.Image, file string) []byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i := len(layers) - 1; i >= 0; i-- {
		rc, err := layers[i].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if strings.TrimPrefix(h.Name, "./") == file {
				b, err := io.ReadAll(tr)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}
		rc.Close()
	}
	t.Fatalf("%s not found in the image", file)
	return nil
}

// An app linked against vulnerable module versions fails at scan, with the
// scan exit code and a findings table, and publishes nothing.
func TestVulnerableDependencyFailsScan(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	dir := copyFixture(t, addVulnerableDependency(t))
	image := uniqueImage("vuln")
	res := run(t, dir, map[string]string{"GITHUB_TOKEN": "x"}, "--registry", reg, "--image", image, "--username", "e2e")
	if res.code != exitScanFindings {
		t.Fatalf("exit %d, want %d (scan findings)", res.code, exitScanFindings)
	}
	if !strings.Contains(res.stdout, "CVE-2021-38561") || !strings.Contains(res.stdout, "golang.org/x/text") {
		t.Errorf("the findings table does not name CVE-2021-38561 in golang.org/x/text")
	}
	if tags := tagsOf(t, reg+"/"+image); len(tags) > 0 {
		t.Errorf("a failed scan left tags %v", tags)
	}

	// The severity filter: x/text's advisory is HIGH, so gating on CRITICAL
	// alone passes, while the report still lists it.
	reports := filepath.Join(t.TempDir(), "reports")
	res = run(t, dir, nil, "--skip-tests", "--dry-run", "--severity", "CRITICAL", "--registry", reg, "--image", image, "--report-dir", reports)
	if res.code != exitOK {
		t.Fatalf("--severity CRITICAL: exit %d, want 0", res.code)
	}
	data, err := os.ReadFile(filepath.Join(reports, "trivy-linux-amd64.json"))
	if err != nil || !strings.Contains(string(data), "CVE-2021-38561") {
		t.Errorf("the JSON report does not list CVE-2021-38561 (%v)", err)
	}

	// A .trivyignore takes the finding out of the gate, and the run says
	// so, with the file's digest (issue 21, item 3: what an ignore file
	// suppressed was recorded nowhere).
	ignore := "# Injected by the e2e test.\nCVE-2021-38561\n"
	writeFile(t, dir, ".trivyignore", ignore)
	res = run(t, dir, nil, "--skip-tests", "--dry-run", "--registry", reg, "--image", image, "--report-dir", reports)
	if res.code != exitOK {
		t.Fatalf("with .trivyignore: exit %d, want 0", res.code)
	}
	want := fmt.Sprintf(".trivyignore (sha256:%x) suppressed CVE-2021-38561", sha256.Sum256([]byte(ignore)))
	if !strings.Contains(res.stdout, want) {
		t.Errorf("the run does not say %q", want)
	}
}

// addVulnerableDependency forces golang.org/x/text down to v0.3.6, which
// CVE-2021-38561 (HIGH) affects; the fixture service links it, so it lands in
// the binary.
func addVulnerableDependency(t *testing.T) func(dir string) {
	return func(dir string) {
		for _, args := range [][]string{
			{"mod", "edit", "-replace", "golang.org/x/text=golang.org/x/text@v0.3.6"},
			{"mod", "download", "golang.org/x/text"},
			{"build", "-o", os.DevNull, "./app"},
		} {
			cmd := exec.Command("go", args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go %v: %v\n%s", args, err, out)
			}
		}
	}
}

// A scan that doesn't see the service's binary proves nothing: the magic
// that marks the binary's Go build info is overwritten (the binary still
// runs: a smoke failure would exit 5 first), so Trivy finds no Go binary,
// and the run ends with a scan error, not a clean pass.
func TestScanThatMissesTheBinaryIsAnError(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	dir := copyRepo(t, func(dir string) {
		df := readFile(t, filepath.Join(dir, "Dockerfile"))
		hidden := strings.Replace(df, "      -o /out/app ./app\n",
			"      -o /out/app ./app\n# Injected by the e2e test: a binary Trivy can't recognise.\n"+
				"RUN perl -0777 -pi -e 's/\\xff Go buildinf:/\\xff No buildinf:/' /out/app\n", 1)
		if hidden == df {
			t.Fatal("the Dockerfile has no `-o /out/app ./app` line to follow")
		}
		writeFile(t, dir, "Dockerfile", hidden)
	})
	res := run(t, dir, nil, "--dry-run", "--skip-tests", "--registry", reg, "--image", uniqueImage("hidden"))
	if res.code != exitScanError {
		t.Fatalf("exit %d, want %d (scan error)", res.code, exitScanError)
	}
	if !strings.Contains(res.stderr, "Trivy did not see /app") {
		t.Errorf("the error does not say Trivy missed /app")
	}
}

// A service that can't become healthy fails at smoke and publishes nothing.
func TestUnhealthyServiceFailsSmoke(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	dir := copyFixture(t, func(dir string) {
		writeFile(t, dir, "app/zz_broken.go", "package main\n\nimport \"os\"\n\n// Injected by the e2e test: the service dies at start.\nfunc init() {\n\tif len(os.Args) == 1 {\n\t\tos.Exit(3)\n\t}\n}\n")
	})
	image := uniqueImage("broken")
	res := run(t, dir, map[string]string{"GITHUB_TOKEN": "x"}, "--registry", reg, "--image", image, "--username", "e2e")
	if res.code != exitSmoke {
		t.Fatalf("exit %d, want %d (smoke)", res.code, exitSmoke)
	}
	if tags := tagsOf(t, reg+"/"+image); len(tags) > 0 {
		t.Errorf("a failed smoke test left tags %v", tags)
	}
}

// The build ci/main.go declares (issue 22): a Dockerfile elsewhere than
// the root, the stage to build (not the last), a build arg and a build
// secret. The secret reaches the build (a step checks its digest), and its
// value appears nowhere: not in the output, the reports or the image.
func TestBuildAsDeclared(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	secret := marker()
	sum := sha256.Sum256([]byte(secret))
	dir := copyFixture(t, func(dir string) {
		build, final, ok := strings.Cut(readFile(t, filepath.Join(dir, "Dockerfile")), "\nFROM ${RUNTIME_IMAGE}\n")
		if !ok {
			t.Fatal("the fixture's Dockerfile has no FROM ${RUNTIME_IMAGE} line")
		}
		// A last stage that runs as root, has no healthcheck and says it is
		// the debug stage: building it instead of the target fails smoke.
		writeFile(t, dir, "build/app.Dockerfile", build+
			"RUN --mount=type=secret,id=e2e_token,required=true test \"$(sha256sum < /run/secrets/e2e_token | cut -c1-64)\" = "+hex.EncodeToString(sum[:])+"\n"+
			"\nFROM ${RUNTIME_IMAGE} AS runtime\nARG FLAVOUR\nLABEL e2e.flavour=${FLAVOUR}\n"+final+
			"\nFROM ${RUNTIME_IMAGE} AS debug\nLABEL e2e.stage=debug\n")
		if err := os.Remove(filepath.Join(dir, "Dockerfile")); err != nil {
			t.Fatal(err)
		}
		main := readFile(t, filepath.Join(dir, "ci", "main.go"))
		edited := strings.Replace(main, `Test:  gantry.Test{GoModules: []string{"."}},`,
			`Test:  gantry.Test{GoModules: []string{"."}},
		Build: gantry.Build{Dockerfile: "build/app.Dockerfile", Target: "runtime", Args: map[string]string{"FLAVOUR": "declared"},
			Secrets: map[string]string{"e2e_token": "E2E_BUILD_TOKEN"}},`, 1)
		if edited == main {
			t.Fatal("ci/main.go declares no Test to add a Build after")
		}
		writeFile(t, dir, "ci/main.go", edited)
	})
	bin := buildPipeline(t, dir)
	image := uniqueImage("declared-build")
	args := []string{"--registry", reg, "--image", image, "--username", "e2e", "--report-dir", t.TempDir()}

	// Without the secret's variable: exit 2, before the engine.
	if res := runProgram(t, bin, dir, map[string]string{"GITHUB_TOKEN": "x"}, nil, args...); res.code != exitUsage ||
		!strings.Contains(res.stderr, "$E2E_BUILD_TOKEN, which is empty or unset") {
		t.Fatalf("without $E2E_BUILD_TOKEN: exit %d, want %d and a line naming it:\n%s", res.code, exitUsage, res.stderr)
	}

	reports := args[len(args)-1]
	res := runProgram(t, bin, dir, map[string]string{"GITHUB_TOKEN": "x", "E2E_BUILD_TOKEN": secret}, nil, args...)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0", res.code)
	}
	if strings.Contains(res.stdout+res.stderr, secret) {
		t.Error("the build secret's value is in the run's output")
	}
	filepath.WalkDir(reports, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(readFile(t, p), secret) {
			t.Errorf("the build secret's value is in the report %s", p)
		}
		return nil
	})
	for arch, img := range publishedImages(t, reg+"/"+image+":"+headSHA(t, dir)) {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := cf.Config.Labels["e2e.flavour"]; got != "declared" {
			t.Errorf("%s: label e2e.flavour = %q, want the declared build arg's value", arch, got)
		}
		if got, ok := cf.Config.Labels["e2e.stage"]; ok {
			t.Errorf("%s: label e2e.stage = %q: the last stage was built, not the declared target", arch, got)
		}
		raw, err := img.RawConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), secret) {
			t.Errorf("%s: the build secret's value is in the image's config", arch)
		}
	}
}

// The smoke stage checks the contract ci/main.go declares (issue 22), not
// one of Gantry's own: the same service fails a declaration it doesn't
// meet, with the smoke exit code and the probe's last answer.
func TestSmokeChecksTheDeclaredContract(t *testing.T) {
	t.Parallel()
	bed(t)
	dir := copyFixture(t, func(dir string) {
		main := readFile(t, filepath.Join(dir, "ci", "main.go"))
		edited := strings.Replace(main, `Checks:   []gantry.Check{{Path: "/livez"}},`, `Checks:   []gantry.Check{{Path: "/livez"}, {Path: "/metrics"}},`, 1)
		if edited == main {
			t.Fatal("ci/main.go declares no Checks to add to")
		}
		writeFile(t, dir, "ci/main.go", edited)
	})
	res := runProgram(t, buildPipeline(t, dir), dir, nil, nil, "--dry-run", "--skip-tests")
	if res.code != exitSmoke {
		t.Fatalf("exit %d, want %d (smoke)", res.code, exitSmoke)
	}
	if want := "GET /metrics: no 200 within 10s"; !strings.Contains(res.stdout, want) {
		t.Errorf("stdout does not say %q:\n%s", want, res.stdout)
	}
}

// latest never moves back in history: publish C2, then C1, its parent (a
// re-run of an old workflow): C1 gets its SHA tag, latest stays on C2.
// C2 changes no file: the commit alone (the revision label, the version
// linked in) makes its image another digest, and its tests stay the
// engine's cached ones.
func TestLatestNeverMovesBack(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	dir := copyRepo(t, nil)
	c1 := headSHA(t, dir)
	gitRun(t, dir, "commit", "-q", "--allow-empty", "-m", "c2")
	c2 := headSHA(t, dir)
	image := uniqueImage("latest")
	repo := reg + "/" + image
	args := []string{"--registry", reg, "--image", image, "--username", "e2e"}
	if res := run(t, dir, map[string]string{"GITHUB_TOKEN": "x"}, args...); res.code != exitOK {
		t.Fatalf("publishing C2: exit %d", res.code)
	}
	latest := digestOf(t, repo+":latest")
	if latest == "" || latest != digestOf(t, repo+":"+c2) {
		t.Fatalf("after C2: latest -> %q, want C2's digest", latest)
	}

	// The old workflow's checkout: main back at C1.
	gitRun(t, dir, "checkout", "-q", "-B", "main", c1)
	res := run(t, dir, map[string]string{"GITHUB_TOKEN": "x"}, args...)
	if res.code != exitOK {
		t.Fatalf("publishing C1: exit %d", res.code)
	}
	if !strings.Contains(res.stdout, "latest stays on "+c2) {
		t.Errorf("no line saying why latest stays")
	}
	if got := digestOf(t, repo+":latest"); got != latest {
		t.Errorf("latest -> %s after publishing C1, want it still on C2's %s", got, latest)
	}
	if d := digestOf(t, repo+":"+c1); d == "" || d == latest {
		t.Errorf("C1's SHA tag -> %q, want C1's own digest", d)
	}
}

// A release's aliases never move to a lower version: v1.5.1, published
// after v1.5.2 from a checkout that doesn't know v1.5.2 (a shallow one, or
// a re-run of the old release), gets its own tag, and 1.5 and 1 stay on
// 1.5.2. Both commits have the same files, so the tests are the engine's
// cached ones.
func TestAliasesNeverMoveBack(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	// hello-node tags its releases with a suffix (1.5.2-node): the aliases
	// are found, and kept, in it.
	dir := copyProject(t, "hello-node", nil)
	c1 := headSHA(t, dir)
	gitRun(t, dir, "commit", "-q", "--allow-empty", "-m", "c2")
	image := uniqueImage("alias")
	repo := reg + "/" + image
	env := map[string]string{"GITHUB_TOKEN": "x", "GANTRY_IMAGES": nodeImages(t)}
	release := func(version string) result {
		t.Helper()
		gitRun(t, dir, "tag", "v"+version)
		return run(t, dir, env, "--registry", reg, "--image", image, "--username", "e2e", "--ref", "refs/tags/v"+version)
	}
	if res := release("1.5.2"); res.code != exitOK {
		t.Fatalf("releasing 1.5.2: exit %d", res.code)
	}
	newer := digestOf(t, repo+":1.5.2-node")
	for _, alias := range []string{"1.5", "1"} {
		if got := digestOf(t, repo+":"+alias+"-node"); newer == "" || got != newer {
			t.Fatalf("after 1.5.2: %s -> %q, want 1.5.2's %q", alias, got, newer)
		}
	}

	gitRun(t, dir, "tag", "-d", "v1.5.2")
	gitRun(t, dir, "checkout", "-q", "-B", "main", c1)
	res := release("1.5.1")
	if res.code != exitOK {
		t.Fatalf("releasing 1.5.1: exit %d", res.code)
	}
	for _, alias := range []string{"1.5", "1"} {
		if !strings.Contains(res.stdout, alias+" stays on 1.5.2") {
			t.Errorf("no line saying why %s stays", alias)
		}
		if got := digestOf(t, repo+":"+alias+"-node"); got != newer {
			t.Errorf("%s -> %s after releasing 1.5.1, want it still on 1.5.2's %s", alias, got, newer)
		}
	}
	if d := digestOf(t, repo+":1.5.1-node"); d == "" || d == newer {
		t.Errorf("1.5.1 -> %q, want its own digest", d)
	}
}

// A publishing run can't skip the test stage: exit 2 before the engine is
// contacted, pointing at --dry-run, and nothing published.
func TestPublishingNeedsTests(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	dir := copyRepo(t, nil)
	image := uniqueImage("notests")
	res := run(t, dir, map[string]string{"GITHUB_TOKEN": "x", "_EXPERIMENTAL_DAGGER_RUNNER_HOST": "docker-container://gantry-e2e-no-such-engine"},
		"--skip-tests", "--registry", reg, "--image", image, "--username", "e2e")
	if res.code != exitUsage || !strings.Contains(res.stderr, "--dry-run") || strings.Count(res.stderr, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q; want 2 and one line pointing at --dry-run", res.code, res.stderr)
	}
	if tags := tagsOf(t, reg+"/"+image); len(tags) > 0 {
		t.Errorf("published %v", tags)
	}
}

// --dry-run runs everything but publish and writes nothing to the registry.
func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	dir := copyRepo(t, nil)
	image := uniqueImage("dry")
	res := run(t, dir, nil, "--dry-run", "--skip-tests", "--registry", reg, "--image", image)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0", res.code)
	}
	if !strings.Contains(res.stdout, "publish  skipped (--dry-run)") {
		t.Errorf("publish not reported as skipped")
	}
	if tags := tagsOf(t, reg+"/"+image); len(tags) > 0 {
		t.Errorf("--dry-run published %v", tags)
	}
}

// A registry that needs credentials: a wrong token fails at publish without
// showing the token; the right one publishes.
func TestRegistryCredentials(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	bed(t)
	reg, user, pass := os.Getenv("TESTBED_AUTH_REGISTRY"), os.Getenv("TESTBED_AUTH_USERNAME"), os.Getenv("TESTBED_AUTH_PASSWORD")
	if reg == "" || pass == "" {
		t.Fatal("the bed exports no TESTBED_AUTH_REGISTRY / TESTBED_AUTH_PASSWORD")
	}
	dir := copyRepo(t, nil)
	imgs := imagesFile(t, reg)
	image := uniqueImage("auth")
	const wrong = "wrong-token-e2e-7f3a9c"
	res := run(t, dir, map[string]string{"REG_TOKEN": wrong, "GANTRY_IMAGES": imgs},
		"--registry", reg, "--image", image, "--username", user, "--token-env", "REG_TOKEN")
	if res.code != exitPublish {
		t.Fatalf("wrong token: exit %d, want %d (publish)", res.code, exitPublish)
	}
	if strings.Contains(res.stdout+res.stderr, wrong) {
		t.Error("the wrong token appears in the output")
	}
	if !strings.Contains(res.stderr, "UNAUTHORIZED") && !strings.Contains(res.stderr, "401") {
		t.Errorf("the error does not say the registry refused the credentials")
	}
	res = run(t, dir, map[string]string{"REG_TOKEN": pass, "GANTRY_IMAGES": imgs},
		"--registry", reg, "--image", image, "--username", user, "--token-env", "REG_TOKEN")
	if res.code != exitOK {
		t.Fatalf("right token: exit %d, want 0", res.code)
	}
	if strings.Contains(res.stdout+res.stderr, pass) {
		t.Error("the token appears in the output")
	}
}

// faultyRegistry is an in-process registry on the engine-reachable address
// that fails the first n requests with 503.
func faultyRegistry(t *testing.T, addr string, n int64) *atomic.Int64 {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s (reserved for tests in the bed's engine.toml): %v", addr, err)
	}
	left := &atomic.Int64{}
	left.Store(n)
	inner := registry.New()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if left.Add(-1) >= 0 {
			http.Error(w, "injected fault", http.StatusServiceUnavailable)
			return
		}
		inner.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return left
}

// Publishing retries transient registry failures, and gives up cleanly.
func TestPublishRetriesTransientFailures(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	host, _, _ := strings.Cut(reg, ":")
	dir := copyRepo(t, nil)
	tests := []struct {
		name  string
		port  string
		fails int64
		want  int
	}{
		{"a few failures are retried", "5002", 3, exitOK},
		{"persistent failures fail the publish", "5003", 1 << 30, exitPublish},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := host + ":" + tt.port
			left := faultyRegistry(t, addr, tt.fails)
			image := uniqueImage("flaky")
			res := run(t, dir, map[string]string{"GITHUB_TOKEN": "x", "GANTRY_IMAGES": imagesFile(t, addr)},
				"--registry", addr, "--image", image, "--username", "e2e")
			if res.code != tt.want {
				t.Fatalf("exit %d, want %d", res.code, tt.want)
			}
			if tt.want != exitOK {
				left.Store(0) // heal the registry to look at what is left
				if tags := tagsOf(t, addr+"/"+image); len(tags) > 0 {
					t.Errorf("a failed publish left tags %v", tags)
				}
				return
			}
			if tags := tagsOf(t, addr+"/"+image); len(tags) != 2 {
				t.Errorf("tags = %v, want the SHA and latest", tags)
			}
		})
	}
}

// A failing unit test fails the run at the test stage with its own code and
// shows the test's output. The build runs alongside the tests; here it
// takes minutes, and the failing test cancels it.
func TestFailingTestFailsTestStage(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	dir := copyFixture(t, func(dir string) {
		writeFile(t, dir, "app/zz_e2e_test.go", "package main\n\nimport \"testing\"\n\nfunc TestInjectedByE2E(t *testing.T) {\n\tt.Fatal(\"deliberate failure injected by the e2e test\")\n}\n")
		slowBuild(t, dir)
	})
	res := run(t, dir, nil, "--dry-run", "--registry", reg, "--image", uniqueImage("failtest"))
	if res.code != exitTest {
		t.Fatalf("exit %d, want %d (test)", res.code, exitTest)
	}
	if !strings.Contains(res.stdout, "deliberate failure injected by the e2e test") {
		t.Errorf("the failing test's output is not shown")
	}
	if !strings.Contains(res.stdout, "gantry: build    cancelled") {
		t.Errorf("the build still running was not cancelled by the failing test")
	}
}

// A test that fails once and then passes (a flake) fails the first run and
// passes the second, on the same engine: a failed verdict is never served
// from the engine's cache, as go test never caches a failure. The injected
// test asks a counter on the bridge address whether this is its first run.
func TestFailedTestIsNotCached(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	var runs atomic.Int64
	addr := bridgeServer(t, reg, func(w http.ResponseWriter, r *http.Request) {
		if runs.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	dir := copyFixture(t, func(dir string) {
		writeFile(t, dir, "app/zz_flaky_test.go", fmt.Sprintf(`package main

import (
	"net/http"
	"testing"
)

// Injected by the e2e TestFailedTestIsNotCached: fails on its first run only.
func TestFlaky(t *testing.T) {
	resp, err := http.Get("http://%s/run")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatal("deliberate flake injected by the e2e test: failing on the first run")
	}
}
`, addr))
	})
	args := []string{"--dry-run", "--registry", reg, "--image", uniqueImage("flaky")}
	first := run(t, dir, nil, args...)
	if first.code != exitTest || !strings.Contains(first.stdout, "deliberate flake") {
		t.Fatalf("first run: exit %d, want %d with the flake's output", first.code, exitTest)
	}
	second := run(t, dir, nil, args...)
	if second.code != exitOK {
		t.Fatalf("second run: exit %d, want 0: the first run's failure was replayed", second.code)
	}
	if n := runs.Load(); n != 2 {
		t.Errorf("the flaky test ran %d times, want 2", n)
	}
}

// slowBuild makes the Dockerfile's build stage take ten minutes.
func slowBuild(t *testing.T, dir string) {
	t.Helper()
	df := readFile(t, filepath.Join(dir, "Dockerfile"))
	slow := strings.Replace(df, "WORKDIR /src\n", "WORKDIR /src\n# Injected by the e2e test: a build that is still running.\nRUN sleep 600\n", 1)
	if slow == df {
		t.Fatal("the Dockerfile has no WORKDIR /src line to slow down after")
	}
	writeFile(t, dir, "Dockerfile", slow)
}

// A scan that fails while smoke still runs ends the run with the scan's
// code, cancels smoke and publishes nothing.
func TestScanFailureCancelsSmoke(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	dir := copyFixture(t, func(dir string) {
		addVulnerableDependency(t)(dir)
		// The service takes 80 s to listen, within smoke's 90 s deadline.
		writeFile(t, dir, "app/zz_slow.go", "package main\n\nimport (\n\t\"os\"\n\t\"time\"\n)\n\n// Injected by the e2e test: the service is slow to start.\nfunc init() {\n\tif len(os.Args) == 1 {\n\t\ttime.Sleep(80 * time.Second)\n\t}\n}\n")
	})
	image := uniqueImage("scanfirst")
	res := run(t, dir, map[string]string{"GITHUB_TOKEN": "x"}, "--registry", reg, "--image", image, "--username", "e2e")
	if res.code != exitScanFindings {
		t.Fatalf("exit %d, want %d (scan findings)", res.code, exitScanFindings)
	}
	if !strings.Contains(res.stdout, "gantry: smoke    cancelled") {
		t.Errorf("smoke was not cancelled by the failed scan")
	}
	if !strings.Contains(res.stdout, "gantry: publish  cancelled") {
		t.Errorf("publish is not reported as cancelled")
	}
	if tags := tagsOf(t, reg+"/"+image); len(tags) > 0 {
		t.Errorf("a failed scan left tags %v", tags)
	}
}

// An engine that can't be reached fails within --engine-timeout with a hint,
// instead of hanging.
func TestUnreachableEngine(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	bed(t)
	dir := copyRepo(t, nil)
	res := run(t, dir, map[string]string{"_EXPERIMENTAL_DAGGER_RUNNER_HOST": "docker-container://gantry-e2e-no-such-engine"},
		"--dry-run", "--engine-timeout", "20s", "--image", "e2e/unreachable")
	if res.code != exitInternal {
		t.Fatalf("exit %d, want %d", res.code, exitInternal)
	}
	if !strings.Contains(res.stderr, "Dagger engine") || !strings.Contains(res.stderr, "Docker") {
		t.Errorf("stderr does not explain the engine is unreachable: %s", tailLines(res.stderr, 5))
	}
}

// A second run on the same inputs answers from the run cache, restoring the
// reports and step outputs; a moved tag, --rerun or a changed file run every
// stage again.
func TestRunCache(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	dir := copyFixture(t, nil)
	image := uniqueImage("cache")
	repo := reg + "/" + image
	reports := filepath.Join(t.TempDir(), "reports")
	outputs := filepath.Join(t.TempDir(), "github-output")
	env := map[string]string{"GITHUB_TOKEN": "cache", "GITHUB_OUTPUT": outputs, "GANTRY_RUN_CACHE": t.TempDir()}
	args := []string{"--registry", reg, "--image", image, "--username", "e2e", "--report-dir", reports}
	const hit = "gantry: cached:"
	// The token is part of the image name: Dagger masks a secret's value in
	// container output, which must not garble what the run records.

	first := run(t, dir, env, args...)
	if first.code != exitOK || strings.Contains(first.stdout, hit) {
		t.Fatalf("first run: exit %d, cached %v; want 0 and a real run", first.code, strings.Contains(first.stdout, hit))
	}
	firstOutputs := stepOutputs(t, outputs)
	latest, _ := name.NewTag(repo+":latest", name.Insecure)
	d, err := remote.Head(latest)
	if err != nil {
		t.Fatal(err)
	}
	published := d.Digest

	os.RemoveAll(reports)
	os.Remove(outputs)
	second := run(t, dir, env, args...)
	if second.code != exitOK || !strings.Contains(second.stdout, hit) {
		t.Fatalf("second run: exit %d, cached %v; want 0 and a cache hit", second.code, strings.Contains(second.stdout, hit))
	}
	if strings.Contains(second.stdout, "build    started") {
		t.Error("a cache hit ran the build stage")
	}
	for _, f := range []string{"trivy-linux-amd64.json", "trivy-linux-amd64.sarif", "sbom-linux-amd64.cdx.json"} {
		if _, err := os.Stat(filepath.Join(reports, f)); err != nil {
			t.Errorf("the cache hit did not restore %s: %v", f, err)
		}
	}
	if got := stepOutputs(t, outputs); !maps.Equal(got, firstOutputs) {
		t.Errorf("GITHUB_OUTPUT after the hit = %q, want %q", got, firstOutputs)
	}

	// Someone moves latest: the cached answer no longer holds.
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(latest, img); err != nil {
		t.Fatal(err)
	}
	third := run(t, dir, env, args...)
	if third.code != exitOK || strings.Contains(third.stdout, hit) || !strings.Contains(third.stdout, "published changed") {
		t.Fatalf("run after latest moved: exit %d; want 0, no cache hit and the reason", third.code)
	}
	if d, err := remote.Head(latest); err != nil || d.Digest != published {
		t.Errorf("latest -> %v (%v), want it back at %s", d, err, published)
	}

	rerun := run(t, dir, env, append(args, "--rerun")...)
	if rerun.code != exitOK || strings.Contains(rerun.stdout, hit) || !strings.Contains(rerun.stdout, "smoke    passed") {
		t.Errorf("--rerun: exit %d; want 0 and every stage run", rerun.code)
	}

	// A Go module of its own that --test-modules does not name (as this
	// repository's test bed) is never uploaded and not part of the key:
	// adding one is still a hit. --allow-dirty is not part of the key
	// either.
	writeFile(t, dir, "tools/go.mod", "module example.com/fixture/tools\n\ngo 1.26.0\n")
	writeFile(t, dir, "tools/main.go", "package main\n\nfunc main() {}\n")
	bedEdit := run(t, dir, env, append(args, "--allow-dirty")...)
	if bedEdit.code != exitOK || !strings.Contains(bedEdit.stdout, hit) {
		t.Errorf("after adding a module of its own: exit %d, cached %v; want 0 and a hit", bedEdit.code, strings.Contains(bedEdit.stdout, hit))
	}

	// Only the service's source differs from the first run, so this
	// proves the uploaded tree is part of the key.
	writeFile(t, dir, "app/main.go", readFile(t, filepath.Join(dir, "app/main.go"))+"\n// one more line\n")
	changed := run(t, dir, env, append(args, "--allow-dirty")...)
	if changed.code != exitOK || strings.Contains(changed.stdout, hit) {
		t.Errorf("after a change in app/: exit %d, cached %v; want 0 and a real run", changed.code, strings.Contains(changed.stdout, hit))
	}
}

// A run whose source changes while it runs is not recorded: what was
// hashed before may not be what the engine received and tested.
func TestRunCacheSkipsASourceThatChanged(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	dir := copyFixture(t, nil)
	env := map[string]string{"GANTRY_RUN_CACHE": t.TempDir()}
	args := []string{"--dry-run", "--skip-tests", "--registry", reg, "--image", uniqueImage("edited")}
	version := filepath.Join(dir, "app/main.go")
	original := readFile(t, version)
	edited := false
	first := runWatching(t, dir, env, func(line string) {
		if !edited && strings.HasPrefix(line, "gantry: build    started") {
			edited = true
			writeFile(t, dir, "app/main.go", readFile(t, version)+"\n// edited while the run ran\n")
		}
	}, args...)
	if first.code != exitOK || !edited {
		t.Fatalf("exit %d, edited %v; want 0 after an edit during the build", first.code, edited)
	}
	if !strings.Contains(first.stderr, "the source changed during the run") {
		t.Errorf("no warning that the run is not recorded")
	}
	// Back to the state hashed before the first run: that run tested the
	// file in either state, so it must not answer for this one.
	writeFile(t, dir, "app/main.go", original)
	second := run(t, dir, env, args...)
	if second.code != exitOK || strings.Contains(second.stdout, "gantry: cached:") {
		t.Errorf("the run on the original file: exit %d, cached %v; want a real run", second.code, strings.Contains(second.stdout, "gantry: cached:"))
	}
	// With nothing changing any more, the run is recorded.
	if third := run(t, dir, env, args...); !strings.Contains(third.stdout, "gantry: cached:") {
		t.Errorf("the run after a clean one was not a cache hit")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
