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
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/ci/internal/tags"
)

func TestAliasVersion(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	images := map[string]v1.Image{}
	for _, n := range []string{"a", "b", "c"} {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		images[n] = img
	}
	// Releases as Decide tags them: 1.4.0 (a), 1.5.1 (b), 1.5.10 (c) and
	// 2.0.0 (c again: a later release promoted the same digest); 1.5 and
	// 1 point at c, 2 too; 3 at b, which no release of line 3 has.
	for tag, img := range map[string]string{"1.4.0": "a", "1.5.1": "b", "1.5.10": "c", "1.5.10-rc.1": "c",
		"2.0.0": "c", "1.5": "c", "1": "c", "2": "c", "3": "b", "0123456789abcdef0123456789abcdef01234567": "b"} {
		ref, _ := name.NewTag(host+"/app:"+tag, name.Insecure)
		if err := remote.Write(ref, images[img]); err != nil {
			t.Fatal(err)
		}
	}
	req := Request{Repository: host + "/app", Insecure: true}
	for _, tt := range []struct{ alias, want, wantErr string }{
		{alias: "1.5", want: "1.5.10"}, // numerically, not as strings
		{alias: "1", want: "1.5.10"},   // 2.0.0 shares the digest but is not of line 1
		{alias: "2", want: "2.0.0"},
		{alias: "3", want: ""},   // no release of its line has its digest
		{alias: "1.4", want: ""}, // no such alias
		{alias: "latest", wantErr: "not a release alias"},
	} {
		t.Run(tt.alias, func(t *testing.T) {
			got, err := AliasVersion(context.Background(), req, tt.alias, tags.Flavor{})
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("AliasVersion(%s) = %q, %v; want an error containing %q", tt.alias, got, err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("AliasVersion(%s): %v", tt.alias, err)
			case got != tt.want:
				t.Errorf("AliasVersion(%s) = %q, want %q", tt.alias, got, tt.want)
			}
		})
	}
	// In a flavor, only the flavor's tags count: v1.5-alpine follows
	// v1.5.2-alpine, not 1.5.10.
	for tag, img := range map[string]string{"v1.5.2-alpine": "a", "v1.5-alpine": "a", "v1.5.3-debian": "a"} {
		ref, _ := name.NewTag(host+"/app:"+tag, name.Insecure)
		if err := remote.Write(ref, images[img]); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := AliasVersion(context.Background(), req, "1.5", tags.Flavor{Prefix: "v", Suffix: "-alpine"}); err != nil || got != "1.5.2" {
		t.Errorf("AliasVersion(1.5, v…-alpine) = %q, %v; want 1.5.2", got, err)
	}
}
