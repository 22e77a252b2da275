package layercache

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// cacheIndex is the shape of what BuildKit's registry exporter writes: an
// index of layer blobs and one cache config.
func cacheIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	layer, err := random.Layer(1024, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := static.NewLayer([]byte(`{"layers":[],"records":[]}`), cacheConfigType)
	// BuildKit lists a blob once per record that uses it.
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: layer}, mutate.IndexAddendum{Add: layer}, mutate.IndexAddendum{Add: cfg})
}

func TestProbe(t *testing.T) {
	reg := registry.New()
	refuse := func(r *http.Request) bool { return false }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/broken/") {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		if refuse(r) {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"read-only"}]}`, http.StatusForbidden)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	push := func(ref string, w remote.Taggable) {
		tag, err := name.NewTag(host+"/"+ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Put(tag, w); err != nil {
			t.Fatal(err)
		}
	}
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	push("app:buildcache", cacheIndex(t))
	push("app:latest", img)
	push("other:buildcache", img)

	// readWarning and writeWarning: part of the warning a run that reads
	// the cache, or writes it, prints ("" for none).
	tests := []struct {
		name, ref                 string
		readOnly                  bool
		state                     string
		detail                    string // part of Detail
		writable                  bool
		readWarning, writeWarning string
	}{
		{name: "a cache", ref: "app:buildcache", state: Found, detail: "found: 1 layers, 1 KiB", writable: true},
		{name: "no cache yet", ref: "app:nope", state: Empty, detail: "empty", writable: true},
		{name: "an image, not a cache", ref: "other:buildcache", state: Unusable, detail: "not a BuildKit cache", writable: true, readWarning: "this run is cold"},
		{name: "a broken registry", ref: "broken/app:buildcache", state: Unusable, detail: "unreadable", readWarning: "this run is cold", writeWarning: "refuses pushes"},
		{name: "a read-only token", ref: "app:buildcache", readOnly: true, state: Found, writeWarning: "refuses pushes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refuse = func(r *http.Request) bool {
				return tt.readOnly && r.Method != http.MethodGet && r.Method != http.MethodHead
			}
			st := Probe(context.Background(), host+"/"+tt.ref, true, authn.Anonymous, http.DefaultTransport)
			if st.State != tt.state || !strings.Contains(st.Detail, tt.detail) {
				t.Errorf("status = %+v, want state %s with %q", st, tt.state, tt.detail)
			}
			if !tt.readOnly && st.Writable != tt.writable {
				t.Errorf("writable = %v, want %v (%s)", st.Writable, tt.writable, st.WriteDetail)
			}
			for d, want := range map[Direction]string{Read: tt.readWarning, Write: tt.writeWarning} {
				if w := st.Warning(d); (w != "") != (want != "") || !strings.Contains(w, want) {
					t.Errorf("warning(%v) = %q, want %q", d, w, want)
				}
			}
		})
	}
}

func TestConfig(t *testing.T) {
	if got := Config("ghcr.io/acme/app:buildcache", false); got != "type=registry,ref=ghcr.io/acme/app:buildcache,mode=max,ignore-error=true" {
		t.Errorf("Config = %q", got)
	}
	if got := Config("172.17.0.1:5000/app:buildcache", true); !strings.HasSuffix(got, ",registry.insecure=true") {
		t.Errorf("Config = %q, want registry.insecure", got)
	}
}

// A publishing run only writes the cache, any other run only reads it:
// the variable for both directions is never the one set.
func TestEnv(t *testing.T) {
	const ref = "ghcr.io/acme/app:buildcache"
	for _, tt := range []struct {
		publishing bool
		want       string
	}{
		{publishing: true, want: ExportEnvVar},
		{publishing: false, want: ImportEnvVar},
	} {
		name, value := Env(ref, false, For(tt.publishing))
		if name != tt.want || value != Config(ref, false) {
			t.Errorf("publishing=%v: %s=%s, want %s=%s", tt.publishing, name, value, tt.want, Config(ref, false))
		}
	}
}
