package e2e

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// The test stage's Go caches travel as an image next to the layer cache
// (issue 25: a publishing run compiled every dependency again on each
// fresh runner). Who may start from which:
//   - a publishing run starts only from the caches that the signed
//     provenance of its nearest published first parent names, by digest:
//     not from what their tag holds once someone moved it, and not from a
//     parent whose image under its SHA tag is unsigned;
//   - a run that publishes nothing (a dry run, a pull request) starts from
//     the tag, and a tag that holds no caches leaves it cold, never failed.
func TestGoCachesByTrust(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	key, pub := keyPair(t, "pw")
	dir := copyFixture(t, nil)
	image := uniqueImage("gocaches")
	repo := reg + "/" + image
	cache := repo + ":buildcache"
	cachesTag := cache + "-go-root"
	env := map[string]string{"GITHUB_TOKEN": "x", "COSIGN_PASSWORD": "pw", "GANTRY_RUN_CACHE": "off"}
	pipeline := func(t *testing.T, flags ...string) result {
		t.Helper()
		res := run(t, dir, env, append([]string{"--layer-cache", cache, "--platform", "linux/" + runtime.GOARCH,
			"--report-dir", t.TempDir()}, flags...)...)
		if res.code != exitOK {
			t.Fatalf("exit %d, want 0: Go caches must never fail a run:\n%s\n%s", res.code, tailLines(res.stdout, 30), res.stderr)
		}
		return res
	}
	publish := func(t *testing.T) result {
		t.Helper()
		return pipeline(t, "--registry", reg, "--image", image, "--username", "e2e", "--repository", "gantry-ci/gantry", "--sign-key", key)
	}
	nextCommit := func(t *testing.T, stamp string) string {
		t.Helper()
		writeFile(t, dir, "stamp", stamp+"\n")
		gitCommit(t, dir, stamp)
		return headSHA(t, dir)
	}
	// named is the Go caches that the signed provenance of image names.
	named := func(t *testing.T, image string) string {
		t.Helper()
		var caches []string
		for _, st := range attestations(t, pub, image, "slsaprovenance1") {
			var p struct {
				RunDetails struct {
					Byproducts []struct {
						Name   string            `json:"name"`
						URI    string            `json:"uri"`
						Digest map[string]string `json:"digest"`
					} `json:"byproducts"`
				} `json:"runDetails"`
			}
			if err := json.Unmarshal(st.Predicate, &p); err != nil {
				t.Fatal(err)
			}
			for _, b := range p.RunDetails.Byproducts {
				if b.Name == "go-caches:." {
					caches = append(caches, strings.TrimPrefix(b.URI, "oci://")+"@sha256:"+b.Digest["sha256"])
				}
			}
		}
		if len(caches) != 1 {
			t.Fatalf("the provenance of %s names %d Go caches of module ., want 1: %q", image, len(caches), caches)
		}
		return caches[0]
	}

	// The fixture's first commit has no parent: cold, and its caches pushed
	// and named by its signed provenance.
	first := headSHA(t, dir)
	res := publish(t)
	if !strings.Contains(res.stdout, "gantry: Go caches: cold: the commit has no parent here") {
		t.Errorf("the first run does not say it starts cold:\n%s", tailLines(res.stdout, 30))
	}
	pushed := repo + "@" + digestOf(t, cachesTag)
	if pushed == repo+"@" {
		t.Fatalf("no %s after a publishing run", cachesTag)
	}
	if got := named(t, repo+":"+first); got != pushed {
		t.Fatalf("the first run's provenance names the Go caches %s, want those it pushed, %s", got, pushed)
	}

	// Someone who can push to the package moves the tag.
	pushUnsignedAs(t, cachesTag)
	t.Run("a publishing run starts from the signed record, not the tag", func(t *testing.T) {
		second := nextCommit(t, "second")
		res := publish(t)
		if want := "gantry: Go caches: from those the signed provenance of " + repo + ":" + first + "@"; !strings.Contains(res.stdout, want) {
			t.Errorf("stdout does not say %q:\n%s", want, tailLines(res.stdout, 30))
		}
		if strings.Contains(res.stdout, "starts cold") {
			t.Errorf("a module started cold:\n%s", tailLines(res.stdout, 30))
		}
		// Nothing the caches hold changed: the second run names the same.
		if got := named(t, repo+":"+second); got != pushed {
			t.Errorf("the second run's provenance names the Go caches %s, want the first run's %s", got, pushed)
		}
	})
	t.Run("a dry run starts from the tag, and a tag of no caches leaves it cold", func(t *testing.T) {
		res := pipeline(t, "--dry-run")
		if !strings.Contains(res.stdout, "gantry: Go caches: from "+cachesTag+", as tagged (not verified") ||
			!strings.Contains(res.stdout, "gantry: warning: module .: starts cold: reading the Go caches "+repo+"@") {
			t.Errorf("the dry run does not say it read the tag and found no caches there:\n%s", tailLines(res.stdout, 30))
		}
	})
	t.Run("an unsigned image under the parent's SHA tag is no record", func(t *testing.T) {
		parent := headSHA(t, dir)
		pushUnsignedAs(t, repo+":"+parent)
		nextCommit(t, "third")
		res := publish(t)
		if want := "gantry: Go caches: cold: not from " + repo + ":" + parent + ": "; !strings.Contains(res.stdout, want) {
			t.Errorf("stdout does not say %q:\n%s", want, tailLines(res.stdout, 30))
		}
	})
}
