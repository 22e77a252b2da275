package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"dagger.io/dagger"

	"github.com/gantry-ci/gantry/ci/internal/owned"
	"github.com/gantry-ci/gantry/ci/internal/platforms"
	"github.com/gantry-ci/gantry/ci/internal/runcache"
)

// HostPublisher compiles cmd/gantry-publish from the gantry module in
// moduleDir (origin.Find: the one this program was built from) on the host, for the engine's platform, into the user's cache directory,
// under a path named by a digest of everything the binary is built from
// (the module's sources, the Go version, the target); see keepPublisher.
// It runs in the pinned runtime image, which holds CA certificates and
// nothing else.
//
// The function compiles once per platform, however many callers ask at
// once (the layer cache's probe, the run record's and the Go caches'
// verification, the publish): each would otherwise run a `go build` of its
// own, 26 CPU-s each from an empty build cache (2026-12-05).
func HostPublisher(client *dagger.Client, moduleDir string) PublisherFunc {
	return once(func(ctx context.Context, platform dagger.Platform) (*dagger.File, error) {
		return hostPublisher(ctx, client, moduleDir, platform)
	})
}

// once is f called at most once per platform until it succeeds: callers
// at once wait for the first, and an error is not kept (a caller's
// cancelled context must not fail the others).
func once(f PublisherFunc) PublisherFunc {
	var mu sync.Mutex
	built := map[dagger.Platform]*dagger.File{}
	return func(ctx context.Context, platform dagger.Platform) (*dagger.File, error) {
		mu.Lock()
		defer mu.Unlock()
		if b, ok := built[platform]; ok {
			return b, nil
		}
		b, err := f(ctx, platform)
		if err == nil {
			built[platform] = b
		}
		return b, err
	}
}

func hostPublisher(ctx context.Context, client *dagger.Client, moduleDir string, platform dagger.Platform) (*dagger.File, error) {
	pf, err := platforms.Parse(string(platform))
	if err != nil {
		return nil, fmt.Errorf("the engine's platform: %w", err)
	}
	goos, goarch, goarm := platforms.GoEnv(pf)
	modDir := moduleDir
	goVersion, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return nil, fmt.Errorf("compiling gantry-publish on the host needs Go on PATH, as `go run ./ci` does: %w", err)
	}
	key, err := sourceDigest(modDir, strings.TrimSpace(string(goVersion)), goos, goarch, goarm)
	if err != nil {
		return nil, fmt.Errorf("hashing the publisher's sources: %w", err)
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		// Never a shared directory such as /tmp: whoever could plant a
		// binary there would get the signing key and the tokens.
		return nil, fmt.Errorf("gantry-publish is kept in the user's cache directory, and there is none (%v): set XDG_CACHE_HOME or HOME", err)
	}
	out, err := keepPublisher(filepath.Join(dir, "gantry", "publisher"), key[:32], func(path string) error {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", path, "./cmd/gantry-publish")
		cmd.Dir = modDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly",
			"GOOS="+goos, "GOARCH="+goarch, "GOARM="+goarm)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("compiling gantry-publish on the host: %w\n%s", err, msg)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return client.Host().File(out), nil
}

// keepPublisher returns the path of the publisher built from key, under
// base: the one there, or one build writes. It gets the decrypted key and
// the tokens, so every directory on the way must be the user's own, and
// the binary too, with the digest recorded (in gantry-publish.sha256) when
// it was built. A binary at that path is never rewritten: runs from other
// checkouts, at once, find it or write their own, and the engine never
// syncs a file that changes under it.
func keepPublisher(base, key string, build func(path string) error) (string, error) {
	dir := filepath.Join(base, key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for _, d := range []string{filepath.Dir(base), base, dir} {
		if err := owned.Check(d, owned.Dir); err != nil {
			return "", fmt.Errorf("keeping gantry-publish: %w; remove %s and run again", err, d)
		}
	}
	out := filepath.Join(dir, "gantry-publish")
	sumFile := out + ".sha256"
	if _, err := os.Lstat(out); errors.Is(err, fs.ErrNotExist) {
		tmp, err := os.CreateTemp(dir, ".gantry-publish-*")
		if err != nil {
			return "", err
		}
		tmp.Close()
		defer os.Remove(tmp.Name())
		if err := build(tmp.Name()); err != nil {
			return "", err
		}
		sum, err := runcache.FileDigest(tmp.Name())
		if err != nil {
			return "", err
		}
		tmpSum := tmp.Name() + ".sha256"
		if err := os.WriteFile(tmpSum, []byte(sum+"\n"), 0o600); err != nil {
			return "", err
		}
		defer os.Remove(tmpSum)
		// The digest first, then the binary: a binary is never there
		// without one. Another run may have put the same ones there
		// meanwhile; either way nothing rewrites them after.
		for _, l := range [][2]string{{tmpSum, sumFile}, {tmp.Name(), out}} {
			if err := os.Link(l[0], l[1]); err != nil && !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("storing gantry-publish: %w", err)
			}
		}
	}
	for _, f := range []string{sumFile, out} {
		if err := owned.Check(f, owned.File); err != nil {
			return "", fmt.Errorf("keeping gantry-publish: %w; remove %s and run again", err, dir)
		}
	}
	want, err := os.ReadFile(sumFile)
	if err != nil {
		return "", err
	}
	got, err := runcache.FileDigest(out)
	if err != nil {
		return "", err
	}
	if got != strings.TrimSpace(string(want)) {
		return "", fmt.Errorf("%s is not the binary built there (sha256 %s, recorded %s): remove %s and run again", out, got, strings.TrimSpace(string(want)), dir)
	}
	return out, nil
}

// ProgramDigest identifies the Gantry that runs, the same way on every
// runner (a binary's digest differs with its build paths and C toolchain):
// the sources of the gantry module in moduleDir, which `go run ./ci`
// compiled and the publisher is compiled from, and the Go release that
// compiled it.
func ProgramDigest(moduleDir string) (string, error) {
	return sourceDigest(moduleDir, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// sourceDigest digests the non-test Go sources, go.mod and go.sum of the
// module in dir, with extra build inputs.
func sourceDigest(dir string, extra ...string) (string, error) {
	h := sha256.New()
	for _, e := range extra {
		fmt.Fprintf(h, "%s\x00", e)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" || (strings.HasPrefix(d.Name(), ".") && p != dir) {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if !(strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) && name != "go.mod" && name != "go.sum" {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
