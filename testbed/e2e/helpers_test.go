// Package e2e runs `go run ./ci` for real on the offline test bed: a Dagger
// engine, a local registry, stand-in images, Trivy and its DB. Bring the bed
// up first: `go run ./testbed up` and source the env file it prints.
package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/internal/testenv"
	"github.com/gantry-ci/gantry/testbed/internal/state"
)

// bed returns the test bed's registry, or skips (fails under CI=true) when
// the bed is not up.
func bed(t *testing.T) string {
	t.Helper()
	timed(t)
	return testenv.Require(t, "the offline test bed is not up: run `go run ./testbed up` and source the env file it prints",
		"TESTBED_REGISTRY", "GANTRY_IMAGES", "_EXPERIMENTAL_DAGGER_RUNNER_HOST", "_EXPERIMENTAL_DAGGER_CLI_BIN")[0]
}

// binary is a program, built once per test process: the package pkg of
// the ci module in the directory src returns (this checkout's, or a copy's
// of a test project).
type binary struct {
	name, pkg string // the file's name; the package, relative to ci/
	src       func(t *testing.T) string
	once      sync.Once
	path      string
	err       error
}

// get builds b on first use, from the ci module's directory: that builds
// it with or without the workspace.
func (b *binary) get(t *testing.T) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "gantry-e2e-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, b.name)
		cmd := exec.Command("go", "build", "-o", b.path, b.pkg)
		cmd.Dir = filepath.Join(b.src(t), "ci")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = errors.New(string(out))
		}
	})
	if b.err != nil {
		t.Fatalf("building %s: %v", b.name, b.err)
	}
	return b.path
}

var (
	pipelineBin = &binary{name: "gantry", pkg: ".", src: repoRoot}
	// The publisher on the host, for tests that sign by hand as hostile
	// code would.
	publisherBin = &binary{name: "gantry-publish", pkg: "./cmd/gantry-publish", src: repoRoot}
	// The deployer's verifier, on the host.
	verifierBin = &binary{name: "gantry-verify", pkg: "./cmd/gantry-verify", src: repoRoot}
)

// gantry is the pipeline binary.
func gantry(t *testing.T) string { return pipelineBin.get(t) }

// gantryPublish is the publisher binary.
func gantryPublish(t *testing.T) string { return publisherBin.get(t) }

// repoRoot is the Gantry checkout these tests belong to: two levels up
// from testbed/e2e, where the pipeline's module is ci/.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "ci", "go.mod")); err != nil {
		t.Fatalf("%s does not look like the repository root: %v", root, err)
	}
	return root
}

// copyRepo copies the work tree (without .git and outputs) to a temporary
// git repository with one commit, after edit changes it.
func copyRepo(t *testing.T, edit func(dir string)) string {
	t.Helper()
	dst := t.TempDir()
	copyTree(t, repoRoot(t), dst)
	return commitCopy(t, dst, edit)
}

// copyFixture is copyRepo for the fixture service (testdata/fixture): a
// repository with a small service and its own ci/main.go, which imports
// Gantry as any adopter would, here through a go.work that uses this
// checkout's gantry module (see useGantry). The e2e cases that are about
// the pipeline rather than the repository's own service, and change the
// service's sources, build it: its tests and build take seconds, where the
// service's take minutes on every changed source.
func copyFixture(t *testing.T, edit func(dir string)) string {
	t.Helper()
	return copyProject(t, "fixture", edit)
}

// copyProject copies the project testdata/name and makes it use this
// checkout's Gantry, then commits it as copyRepo does.
func copyProject(t *testing.T, name string, edit func(dir string)) string {
	t.Helper()
	dst := t.TempDir()
	copyTree(t, filepath.Join(repoRoot(t), "testbed", "e2e", "testdata", name), dst)
	useGantry(t, dst)
	return commitCopy(t, dst, edit)
}

// useGantry writes the go.work of a project at dir: its modules (the
// root's, if it has one, and ci/) and this checkout's gantry module, as an
// adopter's workspace would hold a Gantry checkout. The pipeline then
// compiles its publisher from there (ci/internal/origin).
func useGantry(t *testing.T, dir string) {
	t.Helper()
	use := []string{"./ci", filepath.Join(repoRoot(t), "ci")}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		use = append([]string{"."}, use...)
	}
	writeFile(t, dir, "go.work", "go 1.26.0\n\nuse (\n\t"+strings.Join(use, "\n\t")+"\n)\n")
}

// copyTree copies the files under src to dst, without git's files and
// outputs.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	skip := map[string]bool{".git": true, "reports": true, ".testbed": true, ".env": true, filepath.Join("bench", "out"): true}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if skip[rel] {
			if !d.IsDir() {
				// A git worktree's .git is a file; SkipDir on a file
				// would skip the rest of its directory.
				return nil
			}
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
}

// commitCopy makes dir, after edit changes it, a git repository with one
// commit on main.
func commitCopy(t *testing.T, dir string, edit func(dir string)) string {
	t.Helper()
	if edit != nil {
		edit(dir)
	}
	gitRun(t, dir, "init", "-q", "-b", "main")
	gitCommit(t, dir, "e2e copy")
	return dir
}

// gitRun runs git in dir as the e2e tests' committer, at a fixed time.
func gitRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.com",
		"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.com", "GIT_COMMITTER_DATE=2026-11-01T10:00:00Z")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// gitCommit commits everything in dir.
func gitCommit(t *testing.T, dir, msg string) {
	t.Helper()
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", msg)
}

// writeFile writes a file below dir.
func writeFile(t *testing.T, dir, rel, body string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the pipeline on dir with the bed's environment plus env.
func run(t *testing.T, dir string, env map[string]string, args ...string) result {
	t.Helper()
	return runWatching(t, dir, env, nil, args...)
}

// runWatching is run, calling watch (if not nil) with each line of stdout
// as it comes, so a test can act while the pipeline runs.
func runWatching(t *testing.T, dir string, env map[string]string, watch func(line string), args ...string) result {
	t.Helper()
	return runProgram(t, pipelineOf(t, dir), dir, env, watch, args...)
}

// pipelineOf is the pipeline of the copy at dir as it was copied: this
// checkout's, or a test project's (its ci/main.go unedited; a test that
// edits it builds the copy's with buildPipeline).
func pipelineOf(t *testing.T, dir string) string {
	t.Helper()
	mod := readFile(t, filepath.Join(dir, "ci", "go.mod"))
	for name, b := range projectBins {
		if strings.HasPrefix(mod, "module example.com/"+name+"/ci\n") {
			return b.get(t)
		}
	}
	return gantry(t)
}

// projectBins are the test projects' pipelines, each built once per test
// process from a pristine copy.
var projectBins = map[string]*binary{"fixture": projectBinary("fixture"), "hello-node": projectBinary("hello-node")}

// projectBinary is the pipeline of testdata/name, built in a copy that uses
// this checkout's Gantry.
func projectBinary(name string) *binary {
	return &binary{name: name, pkg: ".", src: func(t *testing.T) string {
		dir := t.TempDir()
		copyTree(t, filepath.Join(repoRoot(t), "testbed", "e2e", "testdata", name), dir)
		useGantry(t, dir)
		return dir
	}}
}

// buildPipeline builds the pipeline of the copy at dir, from its own
// ci/main.go, where run runs the one of this checkout.
func buildPipeline(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gantry")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(dir, "ci")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the pipeline of %s: %v\n%s", dir, err, out)
	}
	return bin
}

// runProgram runs the pipeline binary bin on dir as runWatching does.
func runProgram(t *testing.T, bin, dir string, env map[string]string, watch func(line string), args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for _, k := range []string{"GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_REF", "GITHUB_EVENT_NAME", "GITHUB_TOKEN", "GITHUB_ACTOR", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY",
		"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"} {
		cmd.Env = append(cmd.Env, k+"=")
	}
	// Each run gets its own run cache unless the test shares one: a passed
	// run must not make another test's run a cache hit.
	cmd.Env = append(cmd.Env, "GANTRY_RUN_CACHE="+t.TempDir())
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("running gantry: %v", err)
	}
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		stdout.WriteString(sc.Text() + "\n")
		if watch != nil {
			watch(sc.Text())
		}
	}
	err = cmd.Wait()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("running gantry: %v", err)
	}
	t.Logf("gantry %s -> exit %d\n--- stdout:\n%s", strings.Join(args, " "), res.code, res.stdout)
	if res.code != 0 {
		t.Logf("--- stderr (tail):\n%s", tailLines(res.stderr, 60))
	}
	return res
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// imagesFile writes the bed's image set with extra plain-HTTP registries.
func imagesFile(t *testing.T, insecure ...string) string {
	t.Helper()
	return imagesWith(t, func(set *state.Images) { set.InsecureRegistries = append(set.InsecureRegistries, insecure...) })
}

// imagesWith is an image set file: the bed's, changed by edit.
func imagesWith(t *testing.T, edit func(*state.Images)) string {
	t.Helper()
	set, err := state.ReadImages(os.Getenv("GANTRY_IMAGES"))
	if err != nil {
		t.Fatal(err)
	}
	edit(&set)
	data, err := set.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "images.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// uniqueImage is a fresh repository name, so tests don't see each other's tags.
func uniqueImage(prefix string) string { return "e2e/" + unique(prefix) }

// unique is prefix with a random suffix: a name no other test or run uses.
func unique(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// tagsOf lists a repository's tags; none if it doesn't exist.
func tagsOf(t *testing.T, repo string) []string {
	t.Helper()
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r)
	if err != nil {
		return nil
	}
	return tags
}

// digestOf is what repo:tag points at, or "" if nothing.
func digestOf(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r)
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

func headSHA(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// bridgeServer serves h on the bridge address of the bed's registry, which
// the engine's containers reach, until the test ends; it returns host:port.
func bridgeServer(t *testing.T, reg string, h http.HandlerFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", strings.Split(reg, ":")[0]+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// imageID is buildx's image ID of what ref points at: an index's digest,
// an image's config digest.
func imageID(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType.IsIndex() {
		return desc.Digest.String()
	}
	img, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.String()
}

// publishedImages are the images at ref (an index or one image), by
// architecture.
func publishedImages(t *testing.T, ref string) map[string]v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatalf("reading %s: %v", ref, err)
	}
	var imgs []v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range im.Manifests {
			if d.Platform == nil || d.Platform.OS == "unknown" {
				continue
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			imgs = append(imgs, img)
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	out := map[string]v1.Image{}
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		out[cf.Architecture] = img
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no platform image", ref)
	}
	return out
}
