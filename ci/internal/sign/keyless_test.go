package sign

import (
	"context"
	"strings"
	"testing"
	"time"
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
	tests := []struct {
		name   string
		p      Policy
		err    string
		signer string
		// rekorKeys is how many log keys the verifier trusts.
		rekorKeys int
	}{
		{name: "identity", p: Policy{Roots: roots, Identity: "https://github.com/a/b/.github/workflows/ci.yml@refs/heads/main", Issuer: "https://issuer", IgnoreSCT: true, IgnoreTlog: true},
			signer: "https://github.com/a/b/.github/workflows/ci.yml@refs/heads/main (issuer https://issuer)"},
		{name: "pattern", p: Policy{Roots: roots, IdentityRegexp: "^https://github.com/a/b/", Issuer: "https://issuer", IgnoreSCT: true, IgnoreTlog: true},
			signer: "an identity matching ^https://github.com/a/b/ (issuer https://issuer)"},
		{name: "no issuer", p: Policy{Roots: roots, Identity: "x"}, err: "needs an issuer"},
		{name: "identity and pattern", p: Policy{Roots: roots, Identity: "x", IdentityRegexp: "y", Issuer: "i"}, err: "one of an identity or an identity pattern"},
		{name: "roots not PEM", p: Policy{Roots: []byte("junk"), Identity: "x", Issuer: "i"}, err: "no PEM certificates"},
		{name: "a private Rekor", p: Policy{Roots: roots, Identity: "x", Issuer: "https://issuer", IgnoreSCT: true, RekorKey: publicPEM(t)},
			signer: "x (issuer https://issuer)", rekorKeys: 1},
		{name: "a Rekor key that is none", p: Policy{Roots: roots, Identity: "x", Issuer: "i", IgnoreSCT: true, RekorKey: roots}, err: "reading the Rekor public key"},
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
