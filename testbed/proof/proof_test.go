// Package proof holds the tests that prove the offline test bed works the
// way the pipeline uses it: the Dagger SDK reaches the engine, the stand-in
// images run, services bind, images publish to the bed's registries, the
// project's Dockerfile builds, Trivy scans with the bed's DB, Compose runs,
// and `down` leaves nothing behind. They read the env that
// `go run ./testbed up` prints.
package proof

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dagger.io/dagger"

	"github.com/gantry-ci/gantry/internal/testenv"
	"github.com/gantry-ci/gantry/testbed/internal/state"
)

// bedVars are the variables the tests need from the bed's env file.
var bedVars = []string{
	"GANTRY_IMAGES", "_EXPERIMENTAL_DAGGER_RUNNER_HOST", "_EXPERIMENTAL_DAGGER_CLI_BIN",
	"TESTBED_REGISTRY", "TESTBED_AUTH_REGISTRY", "TESTBED_AUTH_USERNAME", "TESTBED_AUTH_PASSWORD",
	"GO_IMAGE", "RUNTIME_IMAGE", "POSTGRES_IMAGE",
}

// requireBed skips the test when the bed's env is not set, or fails it
// under CI=true, where the bed must be up.
func requireBed(t *testing.T) {
	t.Helper()
	testenv.Require(t, "the offline test bed is not up: run `go run ./testbed up` and source the env file it prints", bedVars...)
}

// imageSet reads the bed's image-set override.
func imageSet(t *testing.T) state.Images {
	t.Helper()
	requireBed(t)
	set, err := state.ReadImages(os.Getenv("GANTRY_IMAGES"))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// connect opens a Dagger session bounded by timeout (a broken engine would
// otherwise block dagger.Connect for minutes).
func connect(t *testing.T, timeout time.Duration) (context.Context, *dagger.Client) {
	t.Helper()
	requireBed(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	client, err := dagger.Connect(ctx, dagger.WithLogOutput(os.Stderr))
	if err != nil {
		t.Fatalf("connecting to the bed's engine: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return ctx, client
}

// nonce is a fresh random string: it keeps Dagger from answering an exec
// from its cache and names things uniquely.
func nonce(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// repoRoot finds the repository root: the directory holding go.work.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test's directory")
		}
		dir = parent
	}
}
