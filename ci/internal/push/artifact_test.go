package push

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// imageid is buildx's image ID: an image's config digest, an index's own
// digest.
func TestImageID(t *testing.T) {
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(64, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigName()
	dig, _ := img.Digest()
	idxDigest, _ := idx.Digest()
	for _, tt := range []struct {
		name string
		a    Artifact
		want v1.Hash
	}{{"an image", img, cfg}, {"an index", idx, idxDigest}} {
		got, err := ImageID(tt.a)
		if err != nil || got != tt.want.String() {
			t.Errorf("ImageID(%s) = %q, %v; want %s", tt.name, got, err, tt.want)
		}
	}
	if cfg == dig {
		t.Fatal("a random image whose config digest is its digest: the test can't tell them apart")
	}
}
