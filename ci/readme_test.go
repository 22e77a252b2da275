package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's ci/main.go compiles against Gantry's public package: the go
// command builds it as if it were a package of this module (-overlay),
// without writing into the source tree. A check of this repository's
// README, so it lives with this repository's declaration, not in the
// package that adopters import.
func TestReadmeExampleCompiles(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```go\n")
	if !ok {
		t.Fatal("the README has no ```go block")
	}
	code, _, ok := strings.Cut(rest, "```")
	if !ok || !strings.Contains(code, "gantry.Main(") {
		t.Fatalf("the README's Go block is not a ci/main.go calling gantry.Main:\n%s", code)
	}
	tmp := t.TempDir()
	src := filepath.Join(tmp, "main.go")
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs(filepath.Join("internal", "readme-example"))
	if err != nil {
		t.Fatal(err)
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(dir, "main.go"): src}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "overlay.json"), overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-overlay", filepath.Join(tmp, "overlay.json"), "-o", os.DevNull, "./internal/readme-example")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the README's ci/main.go does not compile: %v\n%s", err, out)
	}
}
