package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Every module of the workspace builds on its own (GOWORK=off, as the
// pipeline's test stage, gantry-publish and `go run ./ci` outside the
// workspace do) with the very versions the workspace builds and tests: else
// what runs is not what was tested (x/crypto v0.42 in ci/go.mod against
// v0.57 in the workspace, until December 2026).
func TestModulesMatchTheWorkspace(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "work", "edit", "-json", filepath.Join(root, "go.work")).Output()
	if err != nil {
		t.Fatalf("reading go.work: %v", err)
	}
	var work struct{ Use []struct{ DiskPath string } }
	if err := json.Unmarshal(out, &work); err != nil {
		t.Fatal(err)
	}
	if len(work.Use) < 2 {
		t.Fatalf("go.work uses %d modules, want the root, ci and testbed", len(work.Use))
	}
	for _, u := range work.Use {
		dir := filepath.Join(root, u.DiskPath)
		workspace := buildList(t, dir, "")
		for path, v := range buildList(t, dir, "off") {
			// A module of the workspace itself has no version there.
			if wv := workspace[path]; wv != "" && wv != v {
				t.Errorf("module %s builds %s %s on its own, %s in the workspace: run `go work sync`, then `go mod tidy` in %s", u.DiskPath, path, v, wv, u.DiskPath)
			}
		}
	}
}

// buildList is the module of every package that the module in dir builds
// and tests, with its version.
func buildList(t *testing.T, dir, gowork string) map[string]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-test", "-f", "{{with .Module}}{{.Path}} {{.Version}}{{end}}", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if gowork != "" {
		cmd.Env = append(cmd.Env, "GOWORK="+gowork)
	}
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps -test ./... in %s (GOWORK=%q): %v\n%s", dir, gowork, err, stderr)
	}
	list := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, v, _ := strings.Cut(line, " ")
		if v != "" {
			list[path] = v
		}
	}
	return list
}
