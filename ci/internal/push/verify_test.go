package push

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestCurrent(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	insecure := func(string) bool { return true }

	pushed := map[string]string{} // tag -> digest
	for _, tag := range []string{"one", "two"} {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := name.NewTag(host+"/app:"+tag, name.Insecure)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		pushed[tag] = d.String()
	}
	ref := func(tag, digest string) string { return host + "/app:" + tag + "@" + digest }

	tests := []struct {
		name    string
		refs    []string
		wantErr string
	}{
		{"all current", []string{ref("one", pushed["one"]), ref("two", pushed["two"])}, ""},
		{"tag moved", []string{ref("one", pushed["one"]), ref("two", pushed["one"])}, "points at " + pushed["two"]},
		{"tag gone", []string{ref("three", pushed["one"])}, "reading " + host + "/app:three"},
		{"no digest", []string{host + "/app:one"}, "not repository:tag@digest"},
		{"nothing", nil, "no published refs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Current(context.Background(), tt.refs, insecure)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Current: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Current = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
