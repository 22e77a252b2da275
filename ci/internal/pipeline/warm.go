package pipeline

import (
	"context"
	"sync"

	"dagger.io/dagger"
)

// warm starts, in the background, the slow fetches that later stages need:
// the probe and PostgreSQL images, the Trivy image and DB, and the
// publisher's compile. They are mostly network and disk, so they overlap
// with the CPU-bound test and build stages instead of following them.
// Errors are dropped here; the stage that needs the result reports them.
// The returned func cancels what is still running and waits for it.
func warm(ctx context.Context, r *Run) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	spawn := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = f()
		}()
	}
	// An exec forces the layers to be pulled and unpacked; From alone only
	// resolves the config.
	for _, ref := range []string{r.Images.Postgres, r.Images.Probe} {
		spawn(func() error {
			_, err := r.Client.Container().From(ref).WithExec([]string{"true"}).Sync(ctx)
			return err
		})
	}
	spawn(func() error {
		_, err := r.trivyDB().Sync(ctx)
		return err
	})
	if skipPublish(r) == "" {
		spawn(func() error {
			_, err := r.publisher(ctx)
			return err
		})
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// publisherOnce is the publisher's compile, run once by whichever of warm
// and the publish stage asks first.
type publisherOnce struct {
	once sync.Once
	file *dagger.File
	err  error
}
