package pipeline

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"dagger.io/dagger"

	"github.com/gantry-ci/gantry/ci/internal/graph"
	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/verify"
)

// Promotion is a release of a digest that was published before, and
// verified for this commit and signer: the very digest that was tested.
type Promotion struct {
	Digest    string   // of the image under the commit's SHA tag
	Platforms []string // its platforms
	Built     verify.Built
}

// Line is what a promotion prints.
func (pr Promotion) Line() string {
	return fmt.Sprintf("promoted %s (built %s from %s)", pr.Digest, pr.Built.Finished.UTC().Format(time.RFC3339), pr.Built.Commit)
}

// Promote releases pr instead of rebuilding it. Test, build and smoke are
// skipped: they passed for this digest. The digest is rescanned with
// today's DB, and once the gate passes the new scan is attested and the
// run's tags are pointed at the same digest.
func Promote(ctx context.Context, env Env, p Plan, pr Promotion, out io.Writer) (Outcome, error) {
	start := time.Now()
	g := graph.New(ctx, out, graphOptions(p)...)
	db := trivyDB(env, p.TrivyDB)
	publisher := startPublisher(g.Context(), env, p)

	why := fmt.Sprintf("promoted: passed when %s was built from %s", short(pr.Digest), short(pr.Built.Commit))
	graph.Skip[none](g, "test", why)
	graph.Skip[none](g, "build", why)
	graph.Skip[none](g, "smoke", why)
	// Every platform of the published digest, with today's DB.
	scan := graph.Go(g, "scan", ExitScanError, nil, func(ctx context.Context, log io.Writer) (*ScanResult, error) {
		in := p.Scan
		in.Images, in.DB = published(env, p.Publish, pr), db
		res, err := Scan(ctx, env, in, log)
		if err != nil && res != nil && p.SkipPublish == "" {
			// Findings: the verdict is attested, so that the digest's
			// newest scan says it failed.
			if aerr := attestFailed(ctx, env, p.Publish, pr, res, publisher, log); aerr != nil {
				return res, fmt.Errorf("%w; %v", err, aerr)
			}
		}
		return res, err
	})
	// The new scan attested, then the release tags on the same digest.
	publish := stage(g, "publish", ExitPublish, p.SkipPublish, deps(scan), func(ctx context.Context, log io.Writer) (*push.Result, error) {
		in := p.Publish
		in.From, in.Scan = pr.Digest, scan.Value()
		return publishWith(ctx, env, in, publisher, log)
	})

	results, err := g.Wait()
	return Outcome{Results: results, Scan: scan.Value(), Published: publish.Value(), Wall: time.Since(start)}, err
}

// attestFailed attests the failed rescan res of the promoted digest.
func attestFailed(ctx context.Context, env Env, in PublishInput, pr Promotion, res *ScanResult, publisher func() (*dagger.File, error), log io.Writer) error {
	bin, err := publisher()
	if err != nil {
		return err
	}
	in.From, in.Scan, in.Publisher = pr.Digest, res, bin
	return attestFailedScan(ctx, env, in, log)
}

// published pulls each platform of the promoted digest, with the run's
// registry credentials.
func published(env Env, in PublishInput, pr Promotion) map[string]*dagger.Container {
	images := map[string]*dagger.Container{}
	for _, p := range pr.Platforms {
		ctr := env.Client.Container(dagger.ContainerOpts{Platform: dagger.Platform(p)})
		if in.Token != nil {
			ctr = ctr.WithRegistryAuth(registryHost(in.Repository), in.Username, in.Token)
		}
		images[p] = ctr.From(in.Repository + "@" + pr.Digest)
	}
	return images
}

// short abbreviates a digest or a commit SHA for a status line.
func short(s string) string {
	if _, hex, ok := strings.Cut(s, ":"); ok && len(hex) > 12 {
		return s[:len(s)-len(hex)+12]
	}
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func registryHost(repo string) string {
	host, _, _ := strings.Cut(repo, "/")
	return host
}
