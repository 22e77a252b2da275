package pipeline

import (
	"context"
	"sync"

	"dagger.io/dagger"
)

// warm starts, in the background, the slow fetches that later stages need:
// the probe and PostgreSQL images and Trivy's DB (which pulls the Trivy
// image). They are mostly network and disk, so they overlap with the
// CPU-bound test and build stages instead of following them. Errors are
// dropped here; the stage that needs the result reports them. The returned
// func cancels what is still running and waits for it.
func warm(ctx context.Context, env Env, db *dagger.Directory) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// An exec forces the layers to be pulled and unpacked; From alone only
	// resolves the config.
	for _, ref := range []string{env.Images.Postgres, env.Images.Probe} {
		wg.Go(func() { env.Client.Container().From(ref).WithExec([]string{"true"}).Sync(ctx) })
	}
	wg.Go(func() { db.Sync(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}
