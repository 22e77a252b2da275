package buildkit

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/gantry-ci/gantry/testbed/internal/layer"
)

// The image runs buildkitd with buildctl beside it (buildx's
// docker-container driver dials through `buildctl dial-stdio`), keeps the
// root file system, and reaches the bed's registries over plain HTTP.
func TestAssemble(t *testing.T) {
	dir := t.TempDir()
	for _, b := range []string{"buildkitd", "buildctl"} {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("binary "+b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var base bytes.Buffer
	if err := layer.WriteTar(&base, []layer.File{layer.Text("usr/sbin/runc", 0o755, "runc")}); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs.tar.gz")
	if err := layer.FromTar(&base, rootfs); err != nil {
		t.Fatal(err)
	}

	img, err := Assemble(rootfs, dir, []string{"172.17.0.1:5000", "172.17.0.1:5001"})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"buildkitd"}) || cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("entrypoint %q on %s/%s, want buildkitd on linux/amd64", cf.Config.Entrypoint, cf.OS, cf.Architecture)
	}
	files := map[string]string{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = string(data)
	}
	for path, want := range map[string]string{
		"usr/bin/buildkitd": "binary buildkitd",
		"usr/bin/buildctl":  "binary buildctl",
		"usr/sbin/runc":     "runc",
	} {
		if got, ok := files[path]; !ok || got != want {
			t.Errorf("/%s = %q (present: %v), want %q", path, got, ok, want)
		}
	}
	toml := files[strings.TrimPrefix(ConfigPath, "/")]
	for _, reg := range []string{"172.17.0.1:5000", "172.17.0.1:5001"} {
		if want := "[registry.\"" + reg + "\"]\n  http = true\n  insecure = true\n"; !strings.Contains(toml, want) {
			t.Errorf("%s = %q, want it to hold %q", ConfigPath, toml, want)
		}
	}
}

// Both builds are what their releases ship: the version linked in, CGO
// off, and the plugin under the name the docker CLI looks for.
func TestSpecs(t *testing.T) {
	d, x := DaemonSpec(), BuildxSpec()
	for _, sp := range []struct {
		name, ldflag string
		unopt        bool
		env          []string
		err          error
	}{
		{d.Name, d.LDFlags, d.Unoptimized, d.Env, d.Validate()},
		{x.Name, x.LDFlags, x.Unoptimized, x.Env, x.Validate()},
	} {
		if sp.err != nil {
			t.Errorf("%s: %v", sp.name, sp.err)
		}
		if sp.unopt {
			t.Errorf("%s is built unoptimized: the benchmark times it", sp.name)
		}
		if !slices.Contains(sp.env, "CGO_ENABLED=0") {
			t.Errorf("%s env %q lacks CGO_ENABLED=0", sp.name, sp.env)
		}
	}
	if !strings.Contains(d.LDFlags, "github.com/moby/buildkit/version.Version="+Version) {
		t.Errorf("buildkit ldflags %q lack the version", d.LDFlags)
	}
	if !strings.Contains(x.LDFlags, "github.com/docker/buildx/version.Version="+BuildxVersion) {
		t.Errorf("buildx ldflags %q lack the version", x.LDFlags)
	}
	if filepath.Base(Buildx("/d")) != "docker-buildx" || x.Output != "docker-buildx" {
		t.Errorf("plugin named %q / %q, want docker-buildx", Buildx("/d"), x.Output)
	}
}
