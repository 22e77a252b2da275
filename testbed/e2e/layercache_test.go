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

// A registry layer cache fills on the first run, before the process exits
// (the export runs as the session closes), and is found by the next; a
// cache that is not a cache, unreachable, or refusing pushes is one
// warning and a run that passes.
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

	dryRun := func(t *testing.T, cache string, flags ...string) result {
		t.Helper()
		dir := copyRepo(t, nil)
		res := run(t, dir, nil, append([]string{"--dry-run", "--images", images, "--layer-cache", cache}, flags...)...)
		if res.code != exitOK {
			t.Fatalf("exit %d, want 0: a layer cache must never fail the run", res.code)
		}
		return res
	}
	t.Run("fills, then is found", func(t *testing.T) {
		t.Parallel()
		cache := reg + "/" + uniqueImage("cache") + ":buildcache"
		// With the tests, which then keep their caches in layers.
		res := dryRun(t, cache)
		if !strings.Contains(res.stdout, "layer cache "+cache+": empty") || strings.Contains(res.stderr, "warning: layer cache") {
			t.Errorf("first run: want the cache reported empty and no warning:\n%s\n%s", res.stdout, res.stderr)
		}
		// Exported by the time the process exits.
		ref, _ := name.NewTag(cache, name.Insecure)
		if _, err := remote.Head(ref); err != nil {
			t.Fatalf("no %s after the run: %v", cache, err)
		}
		res = dryRun(t, cache, "--skip-tests")
		if !strings.Contains(res.stdout, "layer cache "+cache+": found: ") {
			t.Errorf("second run: want the cache found:\n%s", res.stdout)
		}
	})
	for _, tt := range []struct{ name, cache, warning string }{
		{name: "not a cache", cache: notACache, warning: "not a BuildKit cache"},
		{name: "refusing pushes", cache: refusing + "/e2e/app:buildcache", warning: "refuses pushes"},
		{name: "unreachable", cache: host + ":" + unreachableCachePort + "/e2e/app:buildcache", warning: "unreadable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := dryRun(t, tt.cache, "--skip-tests")
			if n := strings.Count(res.stderr, "warning: layer cache "+tt.cache); n != 1 || !strings.Contains(res.stderr, tt.warning) {
				t.Errorf("want one warning saying %q, got %d:\n%s", tt.warning, n, res.stderr)
			}
		})
	}
}
