package repofiles

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository root, two levels up from this package.
var root = filepath.Join("..", "..")

func read(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// digestRE is an image reference pinned by digest.
var digestRE = regexp.MustCompile(`^[a-z0-9][\w./:-]*@sha256:[0-9a-f]{64}$`)

// argDefaultRE is an ARG with a default: a plain `docker build` pulls it.
var argDefaultRE = regexp.MustCompile(`(?m)^ARG ([A-Z_]+_IMAGE)=(\S+)$`)

// composeDefaultRE is an image whose reference a variable can replace.
var composeDefaultRE = regexp.MustCompile(`^\$\{[A-Z_]+:-(.+)\}$`)

// imageRefs are the image references of the Dockerfile's ARG defaults and
// its FROM lines that name an image directly, by where they are.
func dockerfileRefs(df string) map[string]string {
	refs := map[string]string{}
	for _, m := range argDefaultRE.FindAllStringSubmatch(df, -1) {
		refs["Dockerfile ARG "+m[1]] = m[2]
	}
	for _, l := range strings.Split(df, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		img := f[1]
		if strings.HasPrefix(img, "--platform") && len(f) > 2 {
			img = f[2]
		}
		// ${ARG}, scratch and earlier stages are not pulled by name here.
		if !strings.Contains(img, "$") && img != "scratch" && strings.ContainsAny(img, ":@/") {
			refs["Dockerfile FROM "+img] = img
		}
	}
	return refs
}

// composeRefs are the images compose.yaml pulls, by service.
func composeRefs(t *testing.T, data string) map[string]string {
	t.Helper()
	var c struct {
		Services map[string]struct {
			Image string `yaml:"image"`
			Build any    `yaml:"build"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(data), &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	refs := map[string]string{}
	for name, s := range c.Services {
		if s.Image == "" || s.Build != nil {
			continue // built here, not pulled
		}
		ref := s.Image
		if m := composeDefaultRE.FindStringSubmatch(ref); m != nil {
			ref = m[1]
		}
		refs["compose.yaml service "+name] = ref
	}
	return refs
}

// Every image a plain `docker build` or `docker compose up` pulls is
// pinned by digest: a tag can move under a build that was reviewed.
func TestImagesArePinned(t *testing.T) {
	refs := dockerfileRefs(read(t, "Dockerfile"))
	for k, v := range composeRefs(t, read(t, "compose.yaml")) {
		refs[k] = v
	}
	if len(refs) < 3 {
		t.Fatalf("found %d image references (%v): the Dockerfile's GO_IMAGE and RUNTIME_IMAGE and compose's PostgreSQL at least", len(refs), refs)
	}
	for where, ref := range refs {
		if !digestRE.MatchString(ref) {
			t.Errorf("%s: %q is not pinned by digest: write it as name[:tag]@sha256:<64 hex>", where, ref)
		}
	}
}

// The checks catch what they are for.
func TestPinChecks(t *testing.T) {
	df := dockerfileRefs("ARG GO_IMAGE=golang:1.26\nFROM ${GO_IMAGE} AS build\nFROM --platform=$BUILDPLATFORM alpine:3.22 AS tools\nFROM scratch\n")
	if df["Dockerfile ARG GO_IMAGE"] != "golang:1.26" || df["Dockerfile FROM alpine:3.22"] != "alpine:3.22" || len(df) != 2 {
		t.Errorf("dockerfileRefs = %v", df)
	}
	c := composeRefs(t, "services:\n  db:\n    image: ${POSTGRES_IMAGE:-postgres:18}\n  api:\n    build: .\n    image: gantry:dev\n")
	if c["compose.yaml service db"] != "postgres:18" || len(c) != 1 {
		t.Errorf("composeRefs = %v", c)
	}
	for _, ref := range []string{"postgres:18", "postgres@sha256:abc", "${X}"} {
		if digestRE.MatchString(ref) {
			t.Errorf("%q passes for pinned", ref)
		}
	}
	if !digestRE.MatchString("gcr.io/distroless/static-debian13:nonroot@sha256:f7f8f729987ad0fdf6b05eeeae94b26e6a0f613bdf46feea7fc40f7bd72953e6") {
		t.Error("a pinned reference does not pass")
	}
}
