package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/state"
	"github.com/gantry-ci/gantry/testbed/internal/trivydb"
)

// A Trivy DB older than --max-db-age (3 days by default) fails the scan
// with exit 7 and a line saying how old it is; allowed a longer age, the
// same DB, pulled by the digest the run read, scans. Closes issue 21, item
// 3: a stale DB (a mirror nobody updates) passed every image.
func TestStaleTrivyDBFailsScan(t *testing.T) {
	t.Parallel() // every run has its own copy, image name and run cache
	reg := bed(t)
	updated := trivydb.Day(time.Now()).AddDate(0, 0, -10)
	repo := reg + "/" + uniqueImage("trivy-db") + ":2"
	pushDB(t, repo, trivydb.Advisories, updated)
	dir := copyRepo(t, nil)
	env := map[string]string{"GANTRY_IMAGES": imagesWithDB(t, repo)}
	args := []string{"--dry-run", "--skip-tests", "--registry", reg, "--image", uniqueImage("staledb")}
	res := run(t, dir, env, args...)
	if res.code != exitScanError {
		t.Fatalf("a 10-day-old DB: exit %d, want %d (scan error)", res.code, exitScanError)
	}
	for _, want := range []string{"updated " + updated.Format(time.RFC3339) + ", 10d", "more than --max-db-age 72h0m0s"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, tailLines(res.stderr, 5))
		}
	}
	if res = run(t, dir, env, append(args, "--max-db-age", "336h")...); res.code != exitOK {
		t.Fatalf("the same DB with --max-db-age 336h: exit %d, want 0:\n%s", res.code, tailLines(res.stderr, 10))
	}
}

// imagesWithDB is an image set file: the bed's, with the Trivy DB at repo.
func imagesWithDB(t *testing.T, repo string) string {
	t.Helper()
	return imagesWith(t, func(set *state.Images) { set.TrivyDBRepository = repo })
}

// pushDB pushes a DB of advs, updated at updated, to ref.
func pushDB(t *testing.T, ref string, advs []trivydb.Advisory, updated time.Time) {
	t.Helper()
	tgz, err := trivydb.Build(cache.Dir(t.TempDir()), advs, updated)
	if err != nil {
		t.Fatal(err)
	}
	art, err := trivydb.Artifact(tgz)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, art); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}
