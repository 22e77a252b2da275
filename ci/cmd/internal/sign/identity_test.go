package sign

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/gantry-ci/gantry/ci/internal/identity"
)

// Issue 21: a same-repository pull request's code can get a certificate
// for …/ci.yml@refs/pull/7/merge and sign an image, and an attestation
// that claims main's commit, with it. Its signatures verify
// cryptographically (cosign accepts them for the repository's workflow),
// but what the certificate vouches for (ref, trigger) is not what the
// release policy accepts: the verifier drops them, says why, and never
// hands their statements on.
func TestOnlyTheCertifiedSignerCounts(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	ca := newTestCA(t, now.Add(-time.Hour), now.Add(time.Hour))
	log := newPastLog(t)
	log.at = now
	v, err := NewKeylessVerifier(ctx, Policy{Roots: ca.pem, Identity: identity.Release("a/b", "main"), IgnoreSCT: true, RekorKey: log.publicPEM(t)})
	if err != nil {
		t.Fatal(err)
	}
	pr := mainPush()
	pr.Subject = "https://github.com/a/b/.github/workflows/ci.yml@refs/pull/7/merge"
	pr.Ref, pr.Trigger = "refs/pull/7/merge", "pull_request"
	branch := mainPush()
	branch.Subject = "https://github.com/a/b/.github/workflows/ci.yml@refs/heads/feature"
	branch.Ref = "refs/heads/feature"
	sign := func(id identity.Cert, d name.Digest, predicate string) {
		t.Helper()
		s := ca.signer(t, id, now.Add(-time.Minute), now.Add(10*time.Minute), log)
		if err := s.Sign(ctx, []name.Digest{d}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Attest(ctx, d, []Attestation{{Type: Provenance, Predicate: []byte(predicate)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	const claimsMain = `{"buildDefinition":{"buildType":"https://example.com/t","externalParameters":{"ref":"refs/heads/main"}},"runDetails":{"builder":{"id":"https://example.com/b"}}}`

	for _, tt := range []struct {
		name string
		id   identity.Cert
		want string
	}{
		{"pull request", pr, "(ref refs/pull/7/merge, trigger pull_request): a run triggered by pull_request"},
		{"feature branch", branch, "(ref refs/heads/feature, trigger push): a run for refs/heads/feature"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := pushRandom(t)
			sign(tt.id, d, claimsMain)
			if err := v.VerifySignature(ctx, d, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("VerifySignature = %v, want it to say %q", err, tt.want)
			}
			if sts, err := v.VerifyAttestations(ctx, d, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("VerifyAttestations = %d statements, %v; want it to say %q", len(sts), err, tt.want)
			}
		})
	}

	t.Run("main's and a pull request's attestations on one image", func(t *testing.T) {
		d := pushRandom(t)
		sign(mainPush(), d, claimsMain)
		sign(pr, d, claimsMain)
		if err := v.VerifySignature(ctx, d, nil); err != nil {
			t.Fatalf("main's signature: %v", err)
		}
		sts, err := v.VerifyAttestations(ctx, d, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(sts) != 1 || sts[0].Signer == nil || *sts[0].Signer != mainPush() {
			var got []any
			for _, st := range sts {
				got = append(got, st.Signer)
			}
			t.Errorf("statements signed by %v, want main's alone, with what its certificate says", got)
		}
	})
}
