package pipeline

import (
	"context"
	"fmt"
	"time"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/gantry-ci/gantry/ci/internal/publisher"
	"github.com/gantry-ci/gantry/ci/internal/verify"
)

// VerifyInput is what verifying a published image takes.
type VerifyInput struct {
	Image      string          // a tag or a digest
	PublicKey  []byte          // PEM; or
	Keyless    *verify.Keyless // who must have signed keylessly
	Repository string          // https://github.com/OWNER/REPO
	Commit     string          // "" accepts any
	Severity   []string
	MaxScanAge time.Duration // 0: any age
	Username   string
	Token      *dagger.Secret // nil: anonymous
	Publisher  *dagger.File
}

// verifyDeadline bounds reading an image, its signatures and attestations.
const verifyDeadline = 5 * time.Minute

// Verify checks a published image with gantry-publish (Verify), in the
// engine like a publish, so that a token for a private image stays a
// Dagger secret.
func Verify(ctx context.Context, env Env, in VerifyInput) (verify.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, verifyDeadline)
	defer cancel()
	ref, err := name.ParseReference(in.Image)
	if err != nil {
		return verify.Report{}, err
	}
	req := publisher.Request{Username: in.Username, Insecure: env.Images.Insecure(ref.Context().RegistryStr()),
		Verify: &publisher.Verify{Image: in.Image, PublicKey: in.PublicKey, Keyless: in.Keyless,
			Expect: verify.Expect{Repository: in.Repository, Commit: in.Commit, Severity: in.Severity, MaxScanAge: in.MaxScanAge}}}
	ctr := publisherBase(env, in.Publisher, in.Token)
	var rep verify.Report
	if err := runPublisher(ctx, env, ctr, req, &rep); err != nil {
		return verify.Report{}, fmt.Errorf("verifying %s: %w", in.Image, err)
	}
	return rep, nil
}
