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
	args := []string{"/gantry-publish", "--verify", in.Image,
		"--expect-repository", in.Repository, "--severity", strings.Join(in.Severity, ","), "--username", in.Username}
	if in.MaxScanAge > 0 {
		args = append(args, "--max-scan-age", in.MaxScanAge.String())
	}
	if in.Commit != "" {
		args = append(args, "--expect-commit", in.Commit)
	}
	if env.Images.Insecure(ref.Context().RegistryStr()) {
		args = append(args, "--insecure")
	}
	ctr := publisherBase(env, in.Publisher, in.Token)
	switch k := in.Keyless; {
	case k != nil:
		args = append(args, k.Args("/in/roots.pem", "/in/rekor.pub")...)
		if len(k.Roots) > 0 {
			ctr = ctr.WithFile("/in/roots.pem", env.Client.Directory().WithNewFile("roots.pem", string(k.Roots)).File("roots.pem"))
		}
		if len(k.RekorKey) > 0 {
			ctr = ctr.WithFile("/in/rekor.pub", env.Client.Directory().WithNewFile("rekor.pub", string(k.RekorKey)).File("rekor.pub"))
		}
	default:
		args = append(args, "--key", "/in/key.pub")
		ctr = ctr.WithFile("/in/key.pub", env.Client.Directory().WithNewFile("key.pub", string(in.PublicKey)).File("key.pub"))
	}
	var rep verify.Report
	if err := runPublisher(ctx, env, ctr, args, &rep); err != nil {
		return verify.Report{}, fmt.Errorf("verifying %s: %w", in.Image, err)
	}
	return rep, nil
}
