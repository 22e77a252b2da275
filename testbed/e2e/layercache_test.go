package e2e

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/testbed/internal/engine"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// Ports of the layer-cache test's registries (the test registries' range).
const (
	refusingCachePort    = "5006"
	unreachableCachePort = "5007"
)

// What one run leaves for another, the registry layer cache and the
// Dockerfile's cache mounts, never crosses from a run that doesn't publish
// (a pull request) or from any registry writer to a publishing run (issue
// 21, item 2), and a layer cache never fails a run:
//   - a dry run's cache mounts are not a publishing run's on the same engine
//     (a namespace per trust level);
//   - a publishing run writes the layer cache and never reads it; a dry run
//     reads it and never writes it;
//   - a cache forged by someone with package write (a module of the
//     fixture's, changed in the cached `go mod download` layer) does not
//     reach a publishing run on a fresh engine, which would take every
//     cached step from it;
//   - a cache that is not a cache, unreachable, or refusing pushes is one
//     warning and a run that passes.
func TestLayerCacheByTrust(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	host := strings.Split(reg, ":")[0]
	refusing := host + ":" + refusingCachePort
	refusingRegistry(t, refusing, func(r *http.Request) bool {
		return r.Method != http.MethodGet && r.Method != http.MethodHead
	}, nil)
	images := imagesFile(t, refusing, host+":"+unreachableCachePort)

	notACache := reg + "/" + uniqueImage("notacache") + ":buildcache"
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(notACache, name.Insecure)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}

	dir := copyFixture(t, func(dir string) { probeCacheMount(t, dir, "dry run") })
	reports := t.TempDir() // outside the work tree, which a publishing run wants clean
	passes := func(t *testing.T, cache string, env map[string]string, flags ...string) result {
		t.Helper()
		all := map[string]string{"GITHUB_TOKEN": "x", "GANTRY_RUN_CACHE": "off"}
		maps.Copy(all, env)
		res := run(t, dir, all, append([]string{"--images", images, "--layer-cache", cache, "--report-dir", reports}, flags...)...)
		if res.code != exitOK {
			t.Fatalf("exit %d, want 0: a layer cache must never fail the run", res.code)
		}
		return res
	}
	repo := reg + "/" + uniqueImage("layers")
	publish := func(t *testing.T, cache string, env map[string]string, flags ...string) result {
		t.Helper()
		r, _ := strings.CutPrefix(repo, reg+"/")
		return passes(t, cache, env, append([]string{"--registry", reg, "--image", r, "--username", "e2e"}, flags...)...)
	}
	dryRun := func(t *testing.T, cache string) result {
		t.Helper()
		return passes(t, cache, nil, "--dry-run", "--skip-tests")
	}
	nextCommit := func(t *testing.T, stamp string) string {
		t.Helper()
		writeFile(t, dir, "stamp", stamp+"\n")
		gitCommit(t, dir, stamp)
		return headSHA(t, dir)
	}

	cache := reg + "/" + uniqueImage("cache") + ":buildcache"
	var written string
	t.Run("a publishing run writes the cache and sees no dry run's cache mount", func(t *testing.T) {
		dryRun(t, "off") // plants "dry run" in the probe's cache mount
		sha := nextCommit(t, "publish")
		res := publish(t, cache, nil)
		if !strings.Contains(res.stdout, "layer cache "+cache+": written when the run ends, never read") || strings.Contains(res.stderr, "warning: layer cache") {
			t.Errorf("publishing run: want the cache written, not read, and no warning:\n%s\n%s", res.stdout, res.stderr)
		}
		for arch, img := range publishedImages(t, repo+":"+sha) {
			if seen := string(imageFile(t, img, "seen")); seen != "" {
				t.Errorf("%s: the publishing build found %q in its cache mount: a dry run's mount reached it", arch, seen)
			}
		}
		// Exported by the time the process exits.
		if written = digestOf(t, cache); written == "" {
			t.Fatalf("no %s after the publishing run", cache)
		}
	})
	if written == "" {
		return // the rest reads that cache
	}
	t.Run("a dry run reads the cache, never writes it", func(t *testing.T) {
		res := dryRun(t, cache)
		if !strings.Contains(res.stdout, "layer cache "+cache+": found: ") || !strings.Contains(res.stdout, "read, never written") {
			t.Errorf("dry run: want the cache found and read only:\n%s", res.stdout)
		}
		if got := digestOf(t, cache); got != written {
			t.Errorf("%s -> %s after the dry run, want the publishing run's %s: a run that doesn't publish wrote the cache", cache, got, written)
		}
	})
	t.Run("a forged cache does not reach a publishing run on a fresh engine", func(t *testing.T) {
		mark := marker()
		forged := forgeCache(t, cache, "golang.org/x/text@v0.42.0/width", "zz_forged.go",
			"package width\n\nimport \"os\"\n\n// Forged into the layer cache by the e2e test: a backdoor's stand-in.\nfunc init() {\n\tif os.Getenv(\"GANTRY_E2E\") == \""+mark+"\" {\n\t\tos.Exit(97)\n\t}\n}\n")
		sha := nextCommit(t, "fresh engine")
		// The native platform only: a cold engine compiles everything.
		publish(t, cache, map[string]string{"_EXPERIMENTAL_DAGGER_RUNNER_HOST": freshEngine(t)}, "--platform", "linux/"+runtime.GOARCH)
		for arch, img := range publishedImages(t, repo+":"+sha) {
			if bytes.Contains(imageFile(t, img, "app"), []byte(mark)) {
				t.Errorf("%s: /app holds the forged module's code: the publishing run built from the forged cache", arch)
			}
		}
		if got := digestOf(t, cache); got == forged || got == "" {
			t.Errorf("%s is %q after the publishing run, want its own export, not the forged %s", cache, got, forged)
		}
	})
	t.Run("refusing pushes", func(t *testing.T) {
		cache := refusing + "/e2e/app:buildcache"
		// Only a run that writes the cache minds.
		if res := dryRun(t, cache); strings.Contains(res.stderr, "warning: layer cache") {
			t.Errorf("dry run: want no warning, it never writes the cache:\n%s", res.stderr)
		}
		nextCommit(t, "refusing")
		res := publish(t, cache, nil)
		if n := strings.Count(res.stderr, "warning: layer cache "+cache); n != 1 || !strings.Contains(res.stderr, "refuses pushes") {
			t.Errorf("publishing run: want one warning saying it refuses pushes, got %d:\n%s", n, res.stderr)
		}
	})
	for _, tt := range []struct{ name, cache, warning string }{
		{name: "not a cache", cache: notACache, warning: "not a BuildKit cache"},
		{name: "unreachable", cache: host + ":" + unreachableCachePort + "/e2e/app:buildcache", warning: "unreadable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := dryRun(t, tt.cache)
			if n := strings.Count(res.stderr, "warning: layer cache "+tt.cache); n != 1 || !strings.Contains(res.stderr, tt.warning) {
				t.Errorf("want one warning saying %q, got %d:\n%s", tt.warning, n, res.stderr)
			}
		})
	}
}

// probeCacheMount makes the fixture's build show what a cache mount holds:
// the build step reads the file `planted` from a mount of its own (an id no
// other test uses) into /seen in the image, then writes the stamp file's
// content there. A commit that changes stamp runs the step again.
func probeCacheMount(t *testing.T, dir, stamp string) {
	t.Helper()
	id := unique("e2e-probe")
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	build, final, ok := strings.Cut(string(df), "\nFROM ${RUNTIME_IMAGE}\n")
	if !ok {
		t.Fatal("the fixture's Dockerfile has no FROM ${RUNTIME_IMAGE} line")
	}
	writeFile(t, dir, "Dockerfile", build+`
COPY stamp /stamp
RUN --mount=type=cache,target=/probe,id=`+id+` \
    sh -c 'cat /probe/planted > /out/seen 2>/dev/null || : > /out/seen; cat /stamp > /probe/planted'

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/seen /seen
`+final)
	writeFile(t, dir, "stamp", stamp+"\n")
	ignore, err := os.ReadFile(filepath.Join(dir, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, ".dockerignore", string(ignore)+"!stamp\n")
}

// freshEngine starts an engine of t's own from the bed's engine image, with
// an empty cache, and returns the runner host that points the Dagger CLI at
// it. It is removed when t ends (and by `testbed down`, by its label).
func freshEngine(t *testing.T) string {
	t.Helper()
	in := engine.Instance{Container: unique("gantry-testbed-dagger-e2e")}
	in.Volume = in.Container + "-state"
	steps := step.New(testWriter{t}, t.TempDir())
	ctx := context.Background()
	if err := steps.Run(ctx, "fresh engine", func(ctx context.Context, s *step.Step) error {
		return in.Start(ctx, s, engine.Image, "")
	}); err != nil {
		t.Fatalf("starting a fresh engine: %v", err)
	}
	t.Cleanup(func() {
		steps.Run(ctx, "remove the fresh engine", func(ctx context.Context, s *step.Step) error { return in.Remove(ctx, s) })
	})
	return in.RunnerHost()
}

// testWriter writes to t's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
