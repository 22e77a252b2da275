package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gantry-ci/gantry/internal/testenv"
)

// Four runs from four clones at four commits, at once, against one engine
// reached over TCP (a shared engine, as self-hosted runners use one), each
// publishing its own image. Each gets its own digest and tags, built from
// its own commit, and its own reports; the clone with a vulnerable
// dependency fails its scan and leaves no tag, and the others pass all the
// same. A fifth clone, at the first one's commit, then finds the engine's
// cache warm: its test stage is not run again.
func TestSharedEngine(t *testing.T) {
	reg := bed(t)
	engineTCP := testenv.Require(t, "the test bed serves its engine on TCP: run `go run ./testbed up` and source its env file", "TESTBED_ENGINE_TCP")[0]
	// Not parallel: its four runs at once are the heaviest load of the
	// package, and beside three more runs on 2 cores they pushed the
	// load average to 13-17 (2026-12-03). Go runs it before the
	// parallel tests, alone.

	// The first clone's tests report each time they run, to a counter on
	// the bridge address that the engine's containers reach.
	var ran atomic.Int64
	addr := bridgeServer(t, reg, func(w http.ResponseWriter, r *http.Request) { ran.Add(1) })
	reporting := func(dir string) {
		writeFile(t, dir, "app/zz_shared_engine_test.go", fmt.Sprintf(`package main

import (
	"net/http"
	"testing"
)

// Injected by the e2e TestSharedEngine: tells it that these tests ran.
func TestReportsThatItRan(t *testing.T) {
	resp, err := http.Get("http://%s/ran")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
`, addr))
	}

	type clone struct {
		dir, image, sha string
		vulnerable      bool
		res             result
	}
	clones := make([]*clone, 4)
	for i := range clones {
		c := &clone{image: uniqueImage(fmt.Sprintf("shared%d", i)), vulnerable: i == 3}
		switch {
		case i == 0:
			c.dir = copyFixture(t, reporting)
		case c.vulnerable:
			c.dir = copyFixture(t, addVulnerableDependency(t))
		default:
			c.dir = copyFixture(t, nil)
			gitRun(t, c.dir, "commit", "-q", "--allow-empty", "-m", fmt.Sprintf("clone %d", i))
		}
		c.sha = headSHA(t, c.dir)
		clones[i] = c
	}
	env := map[string]string{"GITHUB_TOKEN": "x", "_EXPERIMENTAL_DAGGER_RUNNER_HOST": engineTCP}
	args := func(c *clone) []string {
		return []string{"--registry", reg, "--image", c.image, "--username", "e2e", "--report-dir", filepath.Join(c.dir, "reports")}
	}
	var wg sync.WaitGroup
	for _, c := range clones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.res = run(t, c.dir, env, args(c)...)
		}()
	}
	wg.Wait()

	seen := map[string]int{}
	for i, c := range clones {
		report, err := os.ReadFile(filepath.Join(c.dir, "reports", "trivy-linux-amd64.json"))
		if err != nil {
			t.Errorf("clone %d: no scan report of its own: %v", i, err)
		}
		if c.vulnerable {
			if c.res.code != exitScanFindings {
				t.Errorf("the vulnerable clone: exit %d, want %d", c.res.code, exitScanFindings)
			}
			if !strings.Contains(string(report), "CVE-2021-38561") {
				t.Error("the vulnerable clone's report does not list CVE-2021-38561")
			}
			if tags := tagsOf(t, reg+"/"+c.image); len(tags) > 0 {
				t.Errorf("the vulnerable clone left tags %v", tags)
			}
			continue
		}
		if c.res.code != exitOK {
			t.Errorf("clone %d: exit %d, want 0", i, c.res.code)
			continue
		}
		if strings.Contains(string(report), "CVE-2021-38561") {
			t.Errorf("clone %d's report lists the vulnerable clone's CVE-2021-38561", i)
		}
		repo := reg + "/" + c.image
		d := digestOf(t, repo+":"+c.sha)
		if d == "" || digestOf(t, repo+":latest") != d {
			t.Errorf("clone %d: %s:%s -> %q and latest -> %q, want one digest", i, repo, c.sha, d, digestOf(t, repo+":latest"))
		}
		if rev := revisionOf(t, repo+":"+c.sha); rev != c.sha {
			t.Errorf("clone %d: its image was built from %q, want its own commit %s", i, rev, c.sha)
		}
		if j, dup := seen[d]; dup {
			t.Errorf("clones %d and %d published the same digest %s", j, i, d)
		}
		seen[d] = i
	}
	if n := ran.Load(); n != 1 {
		t.Fatalf("the first clone's tests reported %d runs, want 1", n)
	}

	// The fifth clone: the first's commit, another directory, an empty run
	// cache. The engine has run these very tests: it does not run them again.
	fifth := t.TempDir()
	gitRun(t, clones[0].dir, "clone", "-q", clones[0].dir, fifth)
	if got := headSHA(t, fifth); got != clones[0].sha {
		t.Fatalf("the fifth clone is at %s, want %s", got, clones[0].sha)
	}
	res := run(t, fifth, env, "--dry-run", "--registry", reg, "--image", clones[0].image)
	if res.code != exitOK {
		t.Fatalf("the fifth clone: exit %d, want 0", res.code)
	}
	if n := ran.Load(); n != 1 {
		t.Errorf("the first clone's tests ran %d times after the fifth clone's run, want still 1: the engine's cache was not warm for it", n)
	}
}

// revisionOf is the revision label of ref's image (every platform's is
// the same).
func revisionOf(t *testing.T, ref string) string {
	t.Helper()
	for _, img := range publishedImages(t, ref) {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		return cf.Config.Labels["org.opencontainers.image.revision"]
	}
	return ""
}
