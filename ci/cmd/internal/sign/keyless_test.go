package sign

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/identity"
)

// caPEM is a self-signed CA certificate, the shape of a Fulcio root.
func caPEM(t *testing.T) []byte {
	t.Helper()
	return newTestCA(t, time.Now(), time.Now().Add(time.Hour)).pem
}

// publicPEM is a cosign public key.
func publicPEM(t *testing.T) []byte {
	t.Helper()
	return newKey(t, "pw").PublicBytes
}

func TestKeylessPolicy(t *testing.T) {
	roots := caPEM(t)
	release := identity.Policy{Issuer: "https://issuer", Repository: "a/b", Trigger: "push", DefaultBranch: "main"}
	tests := []struct {
		name   string
		p      Policy
		err    string
		signer string
		// rekorKeys is how many log keys the verifier trusts.
		rekorKeys int
	}{
		{name: "release policy", p: Policy{Roots: roots, Identity: release, IgnoreSCT: true, IgnoreTlog: true},
			signer: "a workflow of a/b, run by push for refs/heads/main or a release tag (issuer https://issuer)"},
		{name: "and an exact subject", p: Policy{Roots: roots, Identity: release, Subject: "https://github.com/a/b/.github/workflows/ci.yml@refs/heads/main", IgnoreSCT: true, IgnoreTlog: true},
			signer: "a workflow of a/b, run by push for refs/heads/main or a release tag, as https://github.com/a/b/.github/workflows/ci.yml@refs/heads/main (issuer https://issuer)"},
		{name: "no issuer", p: Policy{Roots: roots, Identity: identity.Policy{Repository: "a/b", Trigger: "push", DefaultBranch: "main"}}, err: "needs the OIDC issuer"},
		{name: "no trigger", p: Policy{Roots: roots, Identity: identity.Policy{Issuer: "i", Repository: "a/b", DefaultBranch: "main"}}, err: "needs the trigger"},
		{name: "subject and pattern", p: Policy{Roots: roots, Identity: release, Subject: "x", SubjectRegexp: "y"}, err: "an exact subject or a subject pattern, not both"},
		{name: "roots not PEM", p: Policy{Roots: []byte("junk"), Identity: release}, err: "no PEM certificates"},
		{name: "a private Rekor", p: Policy{Roots: roots, Identity: release, IgnoreSCT: true, RekorKey: publicPEM(t)},
			signer: "a workflow of a/b, run by push for refs/heads/main or a release tag (issuer https://issuer)", rekorKeys: 1},
		{name: "a Rekor key that is none", p: Policy{Roots: roots, Identity: release, IgnoreSCT: true, RekorKey: roots}, err: "reading the Rekor public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewKeylessVerifier(context.Background(), tt.p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to say %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Signer(); got != tt.signer {
				t.Errorf("Signer() = %q, want %q", got, tt.signer)
			}
			if v.base.RootCerts == nil || v.base.SigVerifier != nil {
				t.Error("a keyless verifier must check certificates against the roots, not a key")
			}
			n := 0
			if v.base.RekorPubKeys != nil {
				n = len(v.base.RekorPubKeys.Keys)
			}
			if n != tt.rekorKeys {
				t.Errorf("%d Rekor keys, want %d", n, tt.rekorKeys)
			}
		})
	}
	key, err := NewVerifier(publicPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	if key.Signer() != "the key" {
		t.Errorf("key Signer() = %q", key.Signer())
	}
}
