package pipeline

import (
	"context"
	"fmt"
	"time"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/gantry-ci/gantry/ci/internal/layercache"
	"github.com/gantry-ci/gantry/ci/internal/publisher"
)

// LayerCacheInput is what probing the layer cache takes.
type LayerCacheInput struct {
	Ref       string
	Username  string
	Token     *dagger.Secret // nil: anonymous
	Publisher *dagger.File
}

// probeDeadline bounds the probe: it only informs.
const probeDeadline = time.Minute

// ProbeLayerCache reads the layer cache with gantry-publish (CacheStatus),
// in the engine, so that the token stays a Dagger secret.
func ProbeLayerCache(ctx context.Context, env Env, in LayerCacheInput) (layercache.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, probeDeadline)
	defer cancel()
	ref, err := name.NewTag(in.Ref)
	if err != nil {
		return layercache.Status{}, err
	}
	req := publisher.Request{Username: in.Username, Insecure: env.Images.Insecure(ref.RegistryStr()),
		CacheStatus: &publisher.CacheStatus{Ref: in.Ref}}
	var st layercache.Status
	if err := runPublisher(ctx, env, publisherBase(env, in.Publisher, in.Token), req, &st); err != nil {
		return layercache.Status{}, fmt.Errorf("probing the layer cache %s: %w", in.Ref, err)
	}
	return st, nil
}
