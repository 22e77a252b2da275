package sign

import (
	"context"
	"crypto"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
)

// registryWith serves an in-process registry, with or without the OCI
// referrers API, and a repository on it.
func registryWith(t *testing.T, referrersAPI bool) name.Repository {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(referrersAPI), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://")+"/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// bundlesOf reads every Sigstore bundle attached to d, by the predicate
// type its referrer manifest is annotated with. (The in-process
// registry's referrers API lists config.mediaType as the artifact type,
// against the spec, so the manifest itself is read.)
func bundlesOf(t *testing.T, d name.Digest) map[string][]*sgbundle.Bundle {
	t.Helper()
	listed, err := Referrers(context.Background(), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*sgbundle.Bundle{}
	for _, desc := range listed {
		img, err := remote.Image(d.Context().Digest(desc.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.ArtifactType != BundleMediaType {
			continue
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("referrer %s: %d layers (%v), want the bundle alone", desc.Digest, len(layers), err)
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		var b sgbundle.Bundle
		if err := b.UnmarshalJSON(raw); err != nil {
			t.Fatalf("referrer %s: %v", desc.Digest, err)
		}
		pt := m.Annotations[annotationPredicateType]
		out[pt] = append(out[pt], &b)
	}
	return out
}

// keyVerifier is sigstore-go's verifier (what cosign v3 and gh verify
// with) of bundles signed by s's key, offline.
func verifyWithKey(t *testing.T, s *Signer, b *sgbundle.Bundle, d name.Digest) error {
	t.Helper()
	pub, err := s.sv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(sv, time.Time{}, time.Time{}), nil
	})
	v, err := verify.NewVerifier(tm, verify.WithNoObserverTimestamps())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := hex.DecodeString(strings.TrimPrefix(d.DigestStr(), "sha256:"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", sum), verify.WithKey()))
	return err
}

// Signing and attesting attach a bundle each, which sigstore-go verifies
// for the digest with the key (and not for another digest, nor with
// another key), whether the registry lists referrers itself or the
// referrers tag does.
func TestBundlesAttached(t *testing.T) {
	for _, api := range []bool{false, true} {
		t.Run(map[bool]string{false: "referrers tag", true: "referrers API"}[api], func(t *testing.T) {
			ctx := context.Background()
			s, _ := loaded(t)
			other, _ := loaded(t)
			repo := registryWith(t, api)
			d, elsewhere := pushRandomTo(t, repo), pushRandomTo(t, repo)
			if err := s.Sign(ctx, []name.Digest{d}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Attest(ctx, d, []Attestation{{Type: Provenance, Predicate: []byte(`{"buildDefinition":{"buildType":"x","externalParameters":{}},"runDetails":{"builder":{"id":"x"}}}`)}, {Type: Vuln, Predicate: []byte(`{}`)}}, nil); err != nil {
				t.Fatal(err)
			}
			got := bundlesOf(t, d)
			for _, pt := range []string{SignPredicate, PredicateURI(Provenance), PredicateURI(Vuln)} {
				if len(got[pt]) != 1 {
					t.Fatalf("%d bundles of %s, want 1 (all: %v)", len(got[pt]), pt, got)
				}
				b := got[pt][0]
				if err := verifyWithKey(t, s, b, d); err != nil {
					t.Errorf("%s: sigstore-go refused the bundle: %v", pt, err)
				}
				if err := verifyWithKey(t, s, b, elsewhere); err == nil {
					t.Errorf("%s: the bundle verified for another digest", pt)
				}
				if err := verifyWithKey(t, other, b, d); err == nil {
					t.Errorf("%s: the bundle verified with another key", pt)
				}
				env, err := b.Envelope()
				if err != nil {
					t.Fatal(err)
				}
				st, err := env.Statement()
				if err != nil {
					t.Fatal(err)
				}
				if st.PredicateType != pt {
					t.Errorf("the bundle annotated %s holds a %s statement", pt, st.PredicateType)
				}
			}
			_, err := remote.Head(ReferrersTag(d))
			if tagged := err == nil; tagged == api {
				t.Errorf("referrers tag written: %v, want %v with the referrers API %v", tagged, !api, api)
			}
			if api {
				return
			}
			// The referrers tag is Gantry's to write: each entry with the
			// artifact type gh filters on and the annotations pulled up.
			listed, err := Referrers(ctx, d, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range listed {
				if m.ArtifactType != BundleMediaType || m.Annotations[annotationPredicateType] == "" || m.Annotations[annotationContent] != "dsse-envelope" {
					t.Errorf("referrers tag lists %s as %q with annotations %v", m.Digest, m.ArtifactType, m.Annotations)
				}
			}
		})
	}
}

// A failed publish takes its bundles back: the referrers tag is put back
// as it was, and, where the registry lists referrers itself, the bundles'
// manifests are deleted. An earlier run's bundle stays.
func TestRestoreTakesBundlesBack(t *testing.T) {
	for _, api := range []bool{false, true} {
		t.Run(map[bool]string{false: "referrers tag", true: "referrers API"}[api], func(t *testing.T) {
			ctx := context.Background()
			before, _ := loaded(t)
			now, _ := loaded(t)
			d := pushRandomTo(t, registryWith(t, api))
			if err := before.Sign(ctx, []name.Digest{d}, nil); err != nil {
				t.Fatal(err)
			}
			listed := func() []v1.Hash {
				descs, err := Referrers(ctx, d, nil)
				if err != nil {
					t.Fatal(err)
				}
				var hs []v1.Hash
				for _, m := range descs {
					hs = append(hs, m.Digest)
				}
				slices.SortFunc(hs, func(a, b v1.Hash) int { return strings.Compare(a.String(), b.String()) })
				return hs
			}
			earlier := listed()
			snap := signsThenFails(t, now, []name.Digest{d}, d)
			if n := len(listed()); n != len(earlier)+2 {
				t.Fatalf("%d referrers after signing and attesting, want %d", n, len(earlier)+2)
			}
			if _, err := snap.Restore(now.Wrote(), nil); err != nil {
				t.Fatalf("restore: %v", err)
			}
			if got := listed(); !slices.Equal(got, earlier) {
				t.Errorf("referrers after the restore = %v, want the earlier run's %v", got, earlier)
			}
			if len(earlier) != 1 {
				t.Errorf("the earlier run left %d referrers, want its one bundle", len(earlier))
			}
		})
	}
}

// On a registry that refuses deletes (GHCR), a failed publish can't take
// its new tags away: it empties them instead, so that they list no
// signature, attestation or bundle of it, and says which. A tag that
// existed is put back as it was.
func TestRestoreEmptiesWhatItCannotDelete(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(refusingDeletes(registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://")+"/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := loaded(t)
	now, _ := loaded(t)
	signed, fresh := pushRandomTo(t, repo), pushRandomTo(t, repo)
	if err := before.Sign(ctx, []name.Digest{signed}, nil); err != nil {
		t.Fatal(err)
	}
	earlier, err := Referrers(ctx, signed, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap := signsThenFails(t, now, []name.Digest{signed, fresh}, fresh)
	emptied, err := snap.Restore(now.Wrote(), nil)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	var names []string
	for _, tag := range emptied {
		names = append(names, tag.TagStr())
	}
	slices.Sort(names)
	hex := strings.TrimPrefix(fresh.DigestStr(), "sha256:")
	if want := []string{"sha256-" + hex, "sha256-" + hex + ".att", "sha256-" + hex + ".sig"}; !slices.Equal(names, want) {
		t.Errorf("emptied %v, want the fresh digest's new tags %v", names, want)
	}
	if err := now.Verifier().VerifySignature(ctx, fresh, nil); err == nil {
		t.Error("the failed publish's signature still verifies")
	}
	if got, err := Referrers(ctx, fresh, nil); err != nil || len(got) != 0 {
		t.Errorf("the fresh digest lists %d referrers (%v), want none", len(got), err)
	}
	if err := before.Verifier().VerifySignature(ctx, signed, nil); err != nil {
		t.Errorf("the earlier signature is gone: %v", err)
	}
	if err := now.Verifier().VerifySignature(ctx, signed, nil); err == nil {
		t.Error("the failed publish's signature of the earlier signed digest stayed")
	}
	if got, err := Referrers(ctx, signed, nil); err != nil || len(got) != len(earlier) || got[0].Digest != earlier[0].Digest {
		t.Errorf("the signed digest lists %v (%v), want the earlier run's %v", got, err, earlier)
	}
}

// refusingDeletes answers every DELETE with 405, as GHCR does.
func refusingDeletes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			http.Error(w, `{"errors":[{"code":"UNSUPPORTED","message":"deletes refused"}]}`, http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}
