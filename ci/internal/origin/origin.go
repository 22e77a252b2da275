// Package origin finds the sources of the Gantry this program was built
// from: the gantry module's directory on this machine, wherever the go
// command took it from (this repository, a workspace, a replace directive,
// the module cache). The publisher is compiled from there, and the run
// cache keys on it, so both follow the Gantry that runs, not whatever
// lies at a fixed path in the repository being built.
package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
)

// ModulePath is the gantry module's path.
const ModulePath = "github.com/gantry-ci/gantry/ci"

// Module is the gantry module a program was built from.
type Module struct {
	// Dir is its directory on this machine.
	Dir string
	// Version is its version: "(devel)" for sources the go command took
	// from a directory (this repository, a workspace, a replace).
	Version string
}

// Find returns the gantry module that the running program was built from.
// dir is where the go command resolves the module graph as `go run ./ci`
// did: the directory it ran in.
func Find(ctx context.Context, dir string) (Module, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Module{}, fmt.Errorf("this program carries no build information: build it with the go command (go run ./ci)")
	}
	return find(ctx, bi, dir)
}

func find(ctx context.Context, bi *debug.BuildInfo, dir string) (Module, error) {
	var m *debug.Module
	main := bi.Main.Path == ModulePath
	if main {
		m = &bi.Main
	}
	for _, d := range bi.Deps {
		if d.Path == ModulePath {
			m = d
		}
	}
	if m == nil {
		return Module{}, fmt.Errorf("this program was not built with %s (main module %s)", ModulePath, bi.Main.Path)
	}
	if m.Replace != nil {
		if m.Replace.Version == "" && filepath.IsAbs(m.Replace.Path) {
			return Module{Dir: m.Replace.Path, Version: "(devel)"}, nil
		}
		m = m.Replace
	}
	// The main module's version, if any, is stamped from its checkout's
	// VCS information (Go 1.24): its sources are the directory's all the
	// same.
	if !main && m.Version != "" && m.Version != "(devel)" {
		return download(ctx, m.Path, m.Version, m.Sum)
	}
	// Sources from a directory: the go command in dir finds the same one
	// (the main module, a workspace's, a relative replace's).
	out, err := goCommand(ctx, dir, "list", "-m", "-json", ModulePath)
	if err != nil {
		return Module{}, fmt.Errorf("finding the sources of %s that this program was built from (go list -m in %s): %w; run it from the directory you built it in, as `go run ./ci` does", ModulePath, dir, err)
	}
	var listed struct{ Dir string }
	if err := json.Unmarshal(out, &listed); err != nil || listed.Dir == "" {
		return Module{}, fmt.Errorf("go list -m %s in %s names no directory", ModulePath, dir)
	}
	return Module{Dir: listed.Dir, Version: "(devel)"}, nil
}

// download returns the module cache's copy of path@version, which must
// hash to sum: the sources this program was built from, byte for byte.
func download(ctx context.Context, path, version, sum string) (Module, error) {
	// Outside any module, so that no go.mod or go.work around changes what
	// is downloaded.
	tmp, err := os.MkdirTemp("", "gantry-origin-")
	if err != nil {
		return Module{}, err
	}
	defer os.RemoveAll(tmp)
	out, err := goCommand(ctx, tmp, "mod", "download", "-json", path+"@"+version)
	var got struct{ Dir, Sum, Error string }
	if jerr := json.Unmarshal(out, &got); jerr == nil && got.Error != "" {
		err = fmt.Errorf("%s", got.Error)
	}
	if err != nil {
		return Module{}, fmt.Errorf("downloading %s@%s, which this program was built from: %w", path, version, err)
	}
	if sum == "" || got.Sum != sum {
		return Module{}, fmt.Errorf("%s@%s in the module cache hashes to %s, but this program was built from %q: run `go clean -modcache` or rebuild", path, version, got.Sum, sum)
	}
	return Module{Dir: got.Dir, Version: version}, nil
}

// goCommand runs go with args in dir and returns its standard output.
func goCommand(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := bytes.TrimSpace(stderr.Bytes()); len(msg) > 0 {
			return out, fmt.Errorf("%w: %s", err, msg)
		}
		return out, err
	}
	return out, nil
}
