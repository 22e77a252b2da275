package layer

import (
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The bed's images are reproducible: the same parts and config give the
// same digest (so `up` skips pushes and loads), dated Epoch, in OCI media
// types, with a history line per layer.
func TestImage(t *testing.T) {
	part := func(name string) Part {
		l, err := FromFiles([]File{Text(name, 0o644, name)})
		if err != nil {
			t.Fatal(err)
		}
		return Part{Layer: l, Why: "adds " + name}
	}
	cfg := v1.Config{Entrypoint: []string{"/bin/x"}, Env: []string{"A=1"}}
	a, err := Image("arm64", cfg, part("a"), part("b"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := Image("arm64", cfg, part("a"), part("b"))
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	dagain, _ := again.Digest()
	if da != dagain {
		t.Errorf("the same parts gave %s and %s", da, dagain)
	}
	other, err := Image("arm64", cfg, part("b"), part("a"))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := other.Digest(); d == da {
		t.Error("layers in another order gave the same digest")
	}

	cf, err := a.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != "arm64" || cf.OS != "linux" || !cf.Created.Time.Equal(Epoch) ||
		!slices.Equal(cf.Config.Entrypoint, cfg.Entrypoint) || !slices.Equal(cf.Config.Env, cfg.Env) {
		t.Errorf("config %+v: want linux/arm64, created at Epoch, the given entrypoint and env", cf)
	}
	var why []string
	for _, h := range cf.History {
		why = append(why, h.CreatedBy)
	}
	if !slices.Equal(why, []string{"adds a", "adds b"}) {
		t.Errorf("history %q, want a line per part", why)
	}
	if mt, _ := a.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want OCI", mt)
	}
}
