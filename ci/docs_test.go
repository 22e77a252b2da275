package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// docs/configuration.md is the public package's Go documentation, as `go
// doc -all` prints it: generated, so it says what the code does. Run the
// test with GANTRY_UPDATE_DOCS=1 to rewrite it.
func TestConfigurationReference(t *testing.T) {
	out, err := exec.Command("go", "doc", "-all", "./gantry").Output()
	if err != nil {
		t.Fatalf("go doc -all ./gantry: %v", err)
	}
	want := configurationHeader + "```\n" + string(out) + "```\n"
	path := filepath.Join("..", "docs", "configuration.md")
	if os.Getenv("GANTRY_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is not `go doc -all ./gantry` of the code: run `GANTRY_UPDATE_DOCS=1 go test -run TestConfigurationReference .` in ci/", path)
	}
	if !strings.Contains(want, "type Project struct") {
		t.Error("the reference lacks type Project")
	}
}

const configurationHeader = `# Configuration reference

What a repository declares in its ` + "`ci/main.go`" + `: the Go documentation of
package ` + "`github.com/gantry-ci/gantry/ci/gantry`" + `, generated from the code
(` + "`go doc -all`" + `; a test in ` + "`ci/docs_test.go`" + ` keeps it current). The flags of one
run are in [pipeline.md](pipeline.md#flags); adopting Gantry step by step is in
[adopting.md](adopting.md).

`
