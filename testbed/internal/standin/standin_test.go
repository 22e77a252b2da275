package standin

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/testbed/internal/layer"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

func TestBusyboxTag(t *testing.T) {
	for in, want := range map[string]string{
		"1:1.37.0-6+b9":         "1.37.0-6_b9",
		"1:1.35.0-4+deb12u1+b1": "1.35.0-4_deb12u1_b1",
		"1.36.1-9":              "1.36.1-9",
		"1.30~rc1":              "1.30_rc1",
	} {
		if got := BusyboxTag(in); got != want {
			t.Errorf("BusyboxTag(%q) = %q, want %q", in, got, want)
		}
		if _, err := name.NewTag("172.17.0.1:5000/" + BusyboxRef(in)); err != nil {
			t.Errorf("BusyboxRef(%q) is not a valid tag: %v", in, err)
		}
	}
}

func TestGoVersion(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "VERSION"), []byte("go1.26.8\ntime 2026-07-01T00:00:00Z\n"), 0o644)
	if v, err := GoVersion(dir); err != nil || v != "1.26.8" {
		t.Errorf("GoVersion = %q, %v", v, err)
	}
	os.WriteFile(filepath.Join(dir, "VERSION"), []byte("devel\n"), 0o644)
	if _, err := GoVersion(dir); err == nil {
		t.Error("accepted a VERSION without a go prefix")
	}
}

func TestConfigs(t *testing.T) {
	g := GolangConfig("1.26.8")
	env := strings.Join(g.Env, "\n")
	for _, want := range []string{"PATH=/go/bin:/usr/local/go/bin:", "GOPATH=/go", "GOTOOLCHAIN=local", "GOLANG_VERSION=1.26.8"} {
		if !strings.Contains(env, want) {
			t.Errorf("golang env lacks %q", want)
		}
	}
	if g.WorkingDir != "/go" {
		t.Errorf("golang workdir %q", g.WorkingDir)
	}
	s := StaticConfig()
	if s.User != "65532" || s.WorkingDir != "/home/nonroot" || len(s.Entrypoint)+len(s.Cmd) != 0 {
		t.Errorf("static config %+v", s)
	}
	p := PostgresConfig()
	if _, ok := p.ExposedPorts["5432/tcp"]; !ok || p.Entrypoint[0] != "docker-entrypoint.sh" {
		t.Errorf("postgres config %+v", p)
	}
	if !strings.HasPrefix(p.Env[0], "PATH=/usr/lib/postgresql/15/bin:") {
		t.Errorf("postgres PATH %q lacks the server binaries", p.Env[0])
	}
	if tc := TrivyConfig(); tc.Entrypoint[0] != "trivy" {
		t.Errorf("trivy config %+v", tc)
	}
}

func TestStaticFiles(t *testing.T) {
	byPath := map[string]layer.File{}
	for _, f := range staticFiles() {
		byPath[f.Path] = f
	}
	passwd := string(byPath["etc/passwd"].Data)
	for _, want := range []string{"root:x:0:0:", "nobody:x:65534:65534:", "nonroot:x:65532:65532:nonroot:/home/nonroot:"} {
		if !strings.Contains(passwd, want) {
			t.Errorf("passwd lacks %q:\n%s", want, passwd)
		}
	}
	if g := string(byPath["etc/group"].Data); !strings.Contains(g, "nonroot:x:65532:") {
		t.Errorf("group lacks nonroot:\n%s", g)
	}
	if f := byPath["tmp"]; f.Mode.Perm() != 0o777 || f.Mode&os.ModeSticky == 0 {
		t.Errorf("/tmp mode %v, want 1777", f.Mode)
	}
	if f := byPath["home/nonroot"]; f.UID != NonrootID || f.GID != NonrootID {
		t.Errorf("/home/nonroot owned by %d:%d", f.UID, f.GID)
	}
	for p := range byPath {
		if strings.HasPrefix(p, "bin/") {
			t.Errorf("static base has %s: it must have no shell", p)
		}
	}
}

// The static base is an index for amd64 and arm64 sharing one layer, and
// pushes to a registry as such.
func TestStaticIndex(t *testing.T) {
	l, err := layer.FromFiles(staticFiles())
	if err != nil {
		t.Fatal(err)
	}
	idx, amd64, err := Static(l)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var archs []string
	for _, d := range m.Manifests {
		archs = append(archs, d.Platform.Architecture)
	}
	if strings.Join(archs, ",") != "amd64,arm64" {
		t.Errorf("index platforms %v", archs)
	}
	cf, _ := amd64.ConfigFile()
	if cf.Architecture != "amd64" || cf.Config.User != "65532" {
		t.Errorf("amd64 config %+v", cf)
	}

	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/" + StaticRef
	var pinned string
	r := step.New(io.Discard, t.TempDir())
	err = r.Run(t.Context(), "push", func(ctx context.Context, s *step.Step) error {
		var err error
		var pushed bool
		if pinned, pushed, err = Push(ctx, s, ref, idx); err != nil || !pushed {
			return fmt.Errorf("first push: pushed=%v err=%v", pushed, err)
		}
		// Pushing again finds it there.
		if _, pushed, err = Push(ctx, s, ref, idx); err != nil || pushed {
			return fmt.Errorf("second push: pushed=%v err=%v", pushed, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	if pinned != ref+"@"+d.String() || TagOf(pinned) != ref {
		t.Errorf("pinned %q", pinned)
	}
	pr, _ := name.ParseReference(pinned, name.Insecure)
	got, err := remote.Index(pr)
	if err != nil {
		t.Fatal(err)
	}
	if gd, _ := got.Digest(); gd != d {
		t.Errorf("registry has %v, want %v", gd, d)
	}
}

func TestPostgresEntrypoint(t *testing.T) {
	for _, want := range []string{
		"POSTGRES_PASSWORD", "POSTGRES_HOST_AUTH_METHOD", "POSTGRES_DB", "POSTGRES_USER",
		"setpriv --reuid=postgres", "listen_addresses = '*'", "host all all all $method", `exec "$@"`,
	} {
		if !strings.Contains(PostgresEntrypoint, want) {
			t.Errorf("entrypoint lacks %q", want)
		}
	}
	// The heredoc uses <<- so its lines must be indented with tabs only.
	for _, line := range strings.Split(PostgresEntrypoint, "\n") {
		if strings.HasPrefix(line, " ") {
			t.Errorf("line indented with spaces: %q", line)
		}
	}
}
