package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Ports of the layer-cache test's registries (the test registries' range).
const (
	refusingCachePort    = "5006"
	unreachableCachePort = "5007"
)

// A registry layer cache is written by publishing runs only and read by
// every other run (issue 21, item 2: a publishing run never imports what
// a pull request or any other registry writer could have pushed, and a
// run that doesn't publish never writes what a publishing run leaves).
// It is there before the publishing run's process exits (the export runs
// as the session closes). A cache that is not a cache, unreachable, or
// refusing pushes is one warning and a run that passes. (That the engine
// imports nothing in a publishing run takes a fresh engine to see; the
// unit test TestUseLayerCache checks what Gantry tells the client.)
func TestLayerCacheNeverFailsTheRun(t *testing.T) {
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

	dir := copyFixture(t, nil)
	reports := t.TempDir() // outside the work tree, which a publishing run wants clean
	passes := func(t *testing.T, cache string, flags ...string) result {
		t.Helper()
		res := run(t, dir, map[string]string{"GITHUB_TOKEN": "x", "GANTRY_RUN_CACHE": "off"},
			append([]string{"--images", images, "--layer-cache", cache, "--report-dir", reports}, flags...)...)
		if res.code != exitOK {
			t.Fatalf("exit %d, want 0: a layer cache must never fail the run", res.code)
		}
		return res
	}
	publish := func(t *testing.T, cache string) result {
		t.Helper()
		return passes(t, cache, "--registry", reg, "--image", uniqueImage("layers"), "--username", "e2e")
	}
	dryRun := func(t *testing.T, cache string) result {
		t.Helper()
		return passes(t, cache, "--dry-run", "--skip-tests")
	}
	t.Run("written by a publishing run, read by a dry run", func(t *testing.T) {
		cache := reg + "/" + uniqueImage("cache") + ":buildcache"
		res := publish(t, cache)
		if !strings.Contains(res.stdout, "layer cache "+cache+": written when the run ends, never read") || strings.Contains(res.stderr, "warning: layer cache") {
			t.Errorf("publishing run: want the cache written, not read, and no warning:\n%s\n%s", res.stdout, res.stderr)
		}
		// Exported by the time the process exits.
		written := digestOf(t, cache)
		if written == "" {
			t.Fatalf("no %s after the publishing run", cache)
		}
		res = dryRun(t, cache)
		if !strings.Contains(res.stdout, "layer cache "+cache+": found: ") || !strings.Contains(res.stdout, "read, never written") {
			t.Errorf("dry run: want the cache found and read only:\n%s", res.stdout)
		}
		if got := digestOf(t, cache); got != written {
			t.Errorf("%s -> %s after the dry run, want the publishing run's %s: a run that doesn't publish wrote the cache", cache, got, written)
		}
	})
	t.Run("refusing pushes", func(t *testing.T) {
		cache := refusing + "/e2e/app:buildcache"
		// Only a run that writes the cache minds.
		if res := dryRun(t, cache); strings.Contains(res.stderr, "warning: layer cache") {
			t.Errorf("dry run: want no warning, it never writes the cache:\n%s", res.stderr)
		}
		res := publish(t, cache)
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
