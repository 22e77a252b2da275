package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/gantry-ci/gantry/ci/internal/verify"
)

// VerifyInput is what verifying a published image takes.
type VerifyInput struct {
	Image      string // a tag or a digest
	PublicKey  []byte // PEM
	Repository string // https://github.com/OWNER/REPO
	Commit     string // "" accepts any
	Severity   []string
	Username   string
	Token      *dagger.Secret // nil: anonymous
	Publisher  *dagger.File
}

// verifyDeadline bounds reading an image, its signatures and attestations.
const verifyDeadline = 5 * time.Minute

// Verify checks a published image with gantry-publish --verify, in the
// engine like a publish, so that a token for a private image stays a
// Dagger secret.
func Verify(ctx context.Context, env Env, in VerifyInput) (verify.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, verifyDeadline)
	defer cancel()
	ref, err := name.ParseReference(in.Image)
	if err != nil {
		return verify.Report{}, err
	}
	args := []string{"/gantry-publish", "--verify", in.Image, "--key", "/in/key.pub",
		"--expect-repository", in.Repository, "--severity", strings.Join(in.Severity, ","), "--username", in.Username}
	if in.Commit != "" {
		args = append(args, "--expect-commit", in.Commit)
	}
	if env.Images.Insecure(ref.Context().RegistryStr()) {
		args = append(args, "--insecure")
	}
	key := env.Client.Directory().WithNewFile("key.pub", string(in.PublicKey)).File("key.pub")
	ctr := publisherBase(env, in.Publisher, in.Token).WithFile("/in/key.pub", key)
	var rep verify.Report
	if err := runPublisher(ctx, env, ctr, args, &rep); err != nil {
		return verify.Report{}, fmt.Errorf("verifying %s: %w", in.Image, err)
	}
	return rep, nil
}
