package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/ci/internal/images"
)

// This repository's Dockerfile and compose.yaml carry copies of Gantry's
// pins as defaults for plain `docker build` / `docker compose`: they must
// not drift from what its pipeline builds with. A check of this
// repository's files against Gantry's pins, so it lives with this
// repository's declaration (ci/main.go), not in Gantry's packages.
func TestCopiesMatchPins(t *testing.T) {
	root := ".."
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	df := read("Dockerfile")
	for arg, want := range map[string]string{"GO_IMAGE": images.Pinned.Go, "RUNTIME_IMAGE": images.Pinned.Runtime} {
		m := regexp.MustCompile(`(?m)^ARG ` + arg + `=(\S+)$`).FindStringSubmatch(df)
		if m == nil || m[1] != want {
			t.Errorf("Dockerfile ARG %s default = %v, want %s", arg, m, want)
		}
	}
	compose := read("compose.yaml")
	if !strings.Contains(compose, "${POSTGRES_IMAGE:-"+images.Pinned.Postgres+"}") {
		t.Errorf("compose.yaml postgres image default is not %s", images.Pinned.Postgres)
	}
}
