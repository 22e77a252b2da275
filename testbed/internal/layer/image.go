package layer

import (
	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Part is one layer of an image and the history line that says what it
// holds.
type Part struct {
	Layer v1.Layer
	Why   string
}

// Image builds a single-platform Linux OCI image of parts with config
// cfg, dated Epoch so that the same parts give the same digest.
func Image(arch string, cfg v1.Config, parts ...Part) (v1.Image, error) {
	var adds []mutate.Addendum
	for _, p := range parts {
		adds = append(adds, mutate.Addendum{
			Layer:     p.Layer,
			History:   v1.History{CreatedBy: p.Why, Created: v1.Time{Time: Epoch}},
			MediaType: types.OCILayer,
		})
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = arch, "linux"
	cf.Created = v1.Time{Time: Epoch}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}
