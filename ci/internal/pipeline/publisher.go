package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"dagger.io/dagger"
)

// HostPublisher compiles cmd/gantry-publish from the source's ci module on
// the host, for the engine's platform, into a path named by a digest of
// everything the binary is built from (the module's sources, the Go
// version, the target). A binary at that path is never rewritten: runs
// from other checkouts, at once, find it or write their own, and the
// engine never syncs a file that changes under it. It runs in the pinned
// runtime image, which holds CA certificates and nothing else.
func HostPublisher(client *dagger.Client, source string) PublisherFunc {
	return func(ctx context.Context, platform dagger.Platform) (*dagger.File, error) {
		goos, goarch, goarm, err := goPlatform(string(platform))
		if err != nil {
			return nil, err
		}
		modDir := filepath.Join(source, "ci")
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
			dir = os.TempDir()
		}
		out := filepath.Join(dir, "gantry", "publisher", key[:32], "gantry-publish")
		if _, err := os.Stat(out); err == nil {
			return client.Host().File(out), nil
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return nil, err
		}
		tmp, err := os.CreateTemp(filepath.Dir(out), ".gantry-publish-*")
		if err != nil {
			return nil, err
		}
		tmp.Close()
		defer os.Remove(tmp.Name())
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp.Name(), "./cmd/gantry-publish")
		cmd.Dir = modDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly",
			"GOOS="+goos, "GOARCH="+goarch, "GOARM="+goarm)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("compiling gantry-publish on the host: %w\n%s", err, msg)
		}
		// Another run may have put the same binary there meanwhile; either
		// way the path now holds it, and nothing rewrites it after.
		if err := os.Link(tmp.Name(), out); err != nil && !os.IsExist(err) {
			return nil, fmt.Errorf("storing gantry-publish: %w", err)
		}
		return client.Host().File(out), nil
	}
}

// ProgramDigest identifies the Gantry that runs, the same way on every
// runner (a binary's digest differs with its build paths and C toolchain):
// the sources of the ci module under source, which `go run ./ci` compiled
// and the publisher is compiled from, and the Go release that compiled it.
func ProgramDigest(source string) (string, error) {
	return sourceDigest(filepath.Join(source, "ci"), runtime.Version(), runtime.GOOS, runtime.GOARCH)
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
