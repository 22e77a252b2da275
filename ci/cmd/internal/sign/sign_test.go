package sign

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"

	"github.com/gantry-ci/gantry/ci/internal/signing"
)

// newKey makes a cosign key pair, as `cosign generate-key-pair` does.
func newKey(t *testing.T, password string) *cosign.KeysBytes {
	t.Helper()
	k, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return []byte(password), nil })
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// loaded makes a key pair and loads its private key.
func loaded(t *testing.T) (*Signer, *cosign.KeysBytes) {
	t.Helper()
	k := newKey(t, "pw")
	s, err := LoadKey(k.PrivateBytes, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

// pushRandom pushes a random image to an in-process registry and returns
// its digest.
func pushRandom(t *testing.T) name.Digest {
	t.Helper()
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://")+"/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return pushRandomTo(t, repo)
}

func TestLoadKey(t *testing.T) {
	k := newKey(t, "right")
	// What `go run ./ci` passes on: the key it opened, decrypted.
	opened, err := signing.Open(k.PrivateBytes, []byte("right"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		key, password []byte
		ok            bool
	}{
		{"cosign key, right password", k.PrivateBytes, []byte("right"), true},
		{"cosign key, wrong password", k.PrivateBytes, []byte("wrong"), false},
		{"a public key", k.PublicBytes, []byte("right"), false},
		{"the key go run ./ci opened, no password", opened.Private, nil, true},
		{"a PRIVATE KEY block holding junk", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadKey(tt.key, tt.password)
			if !tt.ok {
				if err == nil {
					t.Fatal("loaded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pub, err := s.PublicKey()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pub, k.PublicBytes) {
				t.Errorf("public key\n%s\nwant cosign's\n%s", pub, k.PublicBytes)
			}
		})
	}
}

func TestSignThenVerify(t *testing.T) {
	ctx := context.Background()
	s, k := loaded(t)
	d := pushRandom(t)
	v, err := NewVerifier(k.PublicBytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifySignature(ctx, d, nil); err == nil {
		t.Fatal("an unsigned image verified")
	}
	// Signing twice keeps one signature: the dupe detector finds it.
	for range 2 {
		if err := s.Sign(ctx, []name.Digest{d}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.VerifySignature(ctx, d, nil); err != nil {
		t.Fatalf("the signed image does not verify: %v", err)
	}
	sigs, err := remote.Image(d.Repository.Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".sig"))
	if err != nil {
		t.Fatalf("no signature at cosign's tag: %v", err)
	}
	if layers, _ := sigs.Layers(); len(layers) != 1 {
		t.Errorf("%d signatures after signing twice, want 1", len(layers))
	}

	other, err := NewVerifier(newKey(t, "pw").PublicBytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.VerifySignature(ctx, d, nil); err == nil {
		t.Error("the signature verified with another key")
	}
}

func TestAttestThenVerify(t *testing.T) {
	ctx := context.Background()
	s, _ := loaded(t)
	d := pushRandom(t)
	prov := `{"buildDefinition":{"buildType":"https://example.com/t","externalParameters":{"commit":"abc"}},"runDetails":{"builder":{"id":"https://example.com/b"}}}`
	atts := []Attestation{
		{Type: Provenance, Predicate: []byte(prov)},
		{Type: CycloneDX, Predicate: []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6"}`)},
		{Type: Vuln, Predicate: []byte(`{"scanner":{"uri":"pkg:github/aquasecurity/trivy@0.69.3","db":{"version":"sha256:1"}}}`)},
	}
	if _, err := s.Attest(ctx, d, atts, nil); err != nil {
		t.Fatal(err)
	}
	sts, err := s.Verifier().VerifyAttestations(ctx, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range sts {
		got = append(got, st.PredicateType)
		if st.PredicateType == PredicateURI(Provenance) {
			var p struct {
				BuildDefinition struct{ ExternalParameters map[string]string }
			}
			if err := json.Unmarshal(st.Predicate, &p); err != nil || p.BuildDefinition.ExternalParameters["commit"] != "abc" {
				t.Errorf("provenance predicate = %s (%v)", st.Predicate, err)
			}
		}
	}
	want := []string{"https://cosign.sigstore.dev/attestation/vuln/v1", "https://cyclonedx.org/bom", "https://slsa.dev/provenance/v1"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("predicate types = %v, want %v", got, want)
	}

	other, _ := NewVerifier(newKey(t, "pw").PublicBytes)
	if _, err := other.VerifyAttestations(ctx, d, nil); err == nil {
		t.Error("the attestations verified with another key")
	}
	if _, err := s.Attest(ctx, d, []Attestation{{Type: "spdx", Predicate: []byte(`{}`)}}, nil); err == nil {
		t.Error("an unknown predicate type was attested")
	}
}

// A failed publish puts cosign's tags back: new ones deleted, existing
// ones where they were.
func TestSnapshotRestore(t *testing.T) {
	ctx := context.Background()
	before, _ := loaded(t)
	now, _ := loaded(t)
	signed := pushRandom(t) // signed by an earlier run
	if err := before.Sign(ctx, []name.Digest{signed}, nil); err != nil {
		t.Fatal(err)
	}
	fresh := pushRandomTo(t, signed.Context())
	ds := []name.Digest{signed, fresh}

	snap := signsThenFails(t, now, ds, fresh)
	if _, err := snap.Restore(now.Wrote(), nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	tags, err := remote.List(signed.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The earlier run's signature tag and its bundle's referrers tag.
	want := []string{strings.Replace(signed.DigestStr(), ":", "-", 1), strings.Replace(signed.DigestStr(), ":", "-", 1) + ".sig"}
	if !slices.Equal(tags, want) {
		t.Errorf("tags after the restore = %v, want only the earlier %v", tags, want)
	}
	if err := before.Verifier().VerifySignature(ctx, signed, nil); err != nil {
		t.Errorf("the earlier signature is gone: %v", err)
	}
	if err := now.Verifier().VerifySignature(ctx, signed, nil); err == nil {
		t.Error("the failed publish's signature stayed")
	}
}

// Issue 21: two runs sign the same digest; the first fails after the
// second signed too. Its restore must not put the signature tag back to
// what it was before both: that would delete the second run's signature,
// which that run's tags now rely on. It leaves a tag someone else wrote
// since, and still undoes one that holds its own write alone.
func TestRestoreLeavesAnotherRunsWrites(t *testing.T) {
	ctx := context.Background()
	failing, _ := loaded(t)
	other, _ := loaded(t)
	shared := pushRandom(t)
	alone := pushRandomTo(t, shared.Context())

	snap, err := Take([]name.Digest{shared, alone}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := failing.Sign(ctx, []name.Digest{shared, alone}, nil); err != nil {
		t.Fatal(err)
	}
	if err := other.Sign(ctx, []name.Digest{shared}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Restore(failing.Wrote(), nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if err := other.Verifier().VerifySignature(ctx, shared, nil); err != nil {
		t.Errorf("the other run's signature is gone: %v", err)
	}
	if err := failing.Verifier().VerifySignature(ctx, alone, nil); err == nil {
		t.Error("the failed run's own signature of the digest nobody else signed stayed")
	}
}

// pushRandomTo pushes a random image to repo.
func pushRandomTo(t *testing.T, repo name.Repository) name.Digest {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	d := repo.Digest(h.String())
	if err := remote.Write(d, img); err != nil {
		t.Fatal(err)
	}
	return d
}

// The publish reads back only what it attested: a digest that earlier
// runs attested keeps those attestations, and reading them all back would
// make every publish slower than the last.
func TestVerifyWrittenReadsOnlyWhatWasWritten(t *testing.T) {
	ctx := context.Background()
	var blobGets atomic.Int64
	inner := registry.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			blobGets.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://")+"/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d := pushRandomTo(t, repo)
	s, _ := loaded(t)
	for i := range 5 { // earlier runs' scans
		if _, err := s.Attest(ctx, d, []Attestation{{Type: Vuln, Predicate: fmt.Appendf(nil, `{"run":%d}`, i)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	written, err := s.Attest(ctx, d, []Attestation{
		{Type: Provenance, Predicate: []byte(`{"buildDefinition":{"buildType":"https://example.com/t"},"runDetails":{"builder":{"id":"https://example.com/b"}}}`)},
		{Type: CycloneDX, Predicate: []byte(`{"bomFormat":"CycloneDX"}`)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 {
		t.Fatalf("Attest returned %d layer digests, want 2", len(written))
	}

	blobGets.Store(0)
	sts, err := s.Verifier().VerifyWritten(ctx, d, written, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range sts {
		got = append(got, st.PredicateType)
	}
	slices.Sort(got)
	if want := []string{PredicateURI(CycloneDX), PredicateURI(Provenance)}; !slices.Equal(got, want) {
		t.Errorf("predicate types = %v, want %v", got, want)
	}
	if n := blobGets.Load(); n != int64(len(written)) {
		t.Errorf("read %d attestation blobs back, want the %d written (the tag holds 7)", n, len(written))
	}

	missing, _ := v1.NewHash("sha256:" + strings.Repeat("0", 64))
	if _, err := s.Verifier().VerifyWritten(ctx, d, append(written, missing), nil); err == nil || !strings.Contains(err.Error(), "lists 2 of the 3 attestations written") {
		t.Errorf("a layer the registry does not list: err = %v", err)
	}
	other, _ := NewVerifier(newKey(t, "pw").PublicBytes)
	if _, err := other.VerifyWritten(ctx, d, written, nil); err == nil {
		t.Error("the attestations verified with another key")
	}
}

// signsThenFails is a publish by s that snapshots the tags of ds, signs
// them and attests attested, then fails: its snapshot, to restore.
func signsThenFails(t *testing.T, s *Signer, ds []name.Digest, attested name.Digest) Snapshot {
	t.Helper()
	ctx := context.Background()
	snap, err := Take(ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sign(ctx, ds, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Attest(ctx, attested, []Attestation{{Type: Vuln, Predicate: []byte(`{}`)}}, nil); err != nil {
		t.Fatal(err)
	}
	return snap
}
