package check

import (
	"context"
	"encoding/json"
	"maps"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/common"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"

	"github.com/gantry-ci/gantry/ci/cmd/internal/sign"
	"github.com/gantry-ci/gantry/ci/internal/attest"
	"github.com/gantry-ci/gantry/ci/internal/identity"
	"github.com/gantry-ci/gantry/ci/internal/verify"
)

const (
	repoURL = "https://github.com/gantry-ci/gantry"
	commit  = "0123456789abcdef0123456789abcdef01234567"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func signer(t *testing.T) (*sign.Signer, *sign.Verifier) {
	t.Helper()
	k, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return []byte("pw"), nil })
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.LoadKey(k.PrivateBytes, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	return s, s.Verifier()
}

// pushIndex pushes a random two-platform index and returns its tag.
func pushIndex(t *testing.T) (name.Tag, []name.Digest) {
	t.Helper()
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	tag, err := name.NewTag(strings.TrimPrefix(srv.URL, "http://")+"/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(64, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	h, _ := idx.Digest()
	ds := []name.Digest{tag.Context().Digest(h.String())}
	im, _ := idx.IndexManifest()
	for _, m := range im.Manifests {
		ds = append(ds, tag.Context().Digest(m.Digest.String()))
	}
	return tag, ds
}

func provenanceOf(t *testing.T, commit string, finished time.Time) []byte {
	t.Helper()
	return provenanceTagged(t, commit, finished, "")
}

// provenanceTagged is the provenance of a publish to image with tags.
func provenanceTagged(t *testing.T, commit string, finished time.Time, image string, tags ...string) []byte {
	t.Helper()
	p, err := attest.Provenance(attest.Run{Builder: attest.LocalBuilder, Repository: repoURL, Ref: "refs/heads/main", SHA: commit,
		Image: image, Tags: tags,
		TrivyDB: attest.DB{Repository: "r/db:2", Digest: "sha256:" + strings.Repeat("a", 64)}, Started: t0}, finished)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func scanOf(t *testing.T, fixture string, finished time.Time) []byte {
	t.Helper()
	return scanTagged(t, fixture, finished, "")
}

// scanTagged is the scan attestation of a publish to image with tags.
func scanTagged(t *testing.T, fixture string, finished time.Time, image string, tags ...string) []byte {
	t.Helper()
	report, err := os.ReadFile("../../../internal/scanreport/testdata/" + fixture)
	if err != nil {
		t.Fatal(err)
	}
	p, err := attest.Vuln(attest.Run{Image: image, Tags: tags}, attest.Scan{Version: "0.69.3", DB: attest.DB{Digest: "sha256:db"},
		Reports: map[string]json.RawMessage{"linux/amd64": report}, Gate: attest.Gate{Severities: []string{"HIGH", "CRITICAL"}},
		Started: finished.Add(-time.Minute), Finished: finished})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImage(t *testing.T) {
	ctx := context.Background()
	s, v := signer(t)
	_, other := signer(t)
	expect := verify.Expect{Repository: repoURL, Commit: commit, Severity: []string{"HIGH", "CRITICAL"}}

	tests := []struct {
		name     string
		sign     func(ds []name.Digest) // what the publisher did
		verifier *sign.Verifier
		expect   verify.Expect
		want     map[string]string // check -> "ok" or part of a failure's detail
	}{
		{
			name: "signed and attested",
			sign: func(ds []name.Digest) {
				must(t, s.Sign(ctx, ds, nil))
				must(t, attested(s.Attest(ctx, ds[0], []sign.Attestation{
					{Type: sign.Provenance, Predicate: provenanceOf(t, commit, t0)},
					{Type: sign.Vuln, Predicate: scanOf(t, "clean.json", t0)},
				}, nil)))
			},
			verifier: v, expect: expect,
			want: map[string]string{"signature": "ok", "provenance": "ok", "scan": "ok"},
		},
		{
			name:     "unsigned",
			sign:     func([]name.Digest) {},
			verifier: v, expect: expect,
			want: map[string]string{"signature": "no valid signature", "provenance": "no attestation", "scan": "no attestation"},
		},
		{
			name: "signed with another key",
			sign: func(ds []name.Digest) {
				must(t, s.Sign(ctx, ds, nil))
				must(t, attested(s.Attest(ctx, ds[0], []sign.Attestation{{Type: sign.Provenance, Predicate: provenanceOf(t, commit, t0)}}, nil)))
			},
			verifier: other, expect: expect,
			want: map[string]string{"signature": "no valid signature", "provenance": "no attestation"},
		},
		{
			name: "a platform manifest left unsigned",
			sign: func(ds []name.Digest) {
				must(t, s.Sign(ctx, ds[:2], nil))
			},
			verifier: v, expect: expect,
			want: map[string]string{"signature": "platform manifest " + "sha256:"},
		},
		{
			name: "provenance of another commit",
			sign: func(ds []name.Digest) {
				must(t, s.Sign(ctx, ds, nil))
				must(t, attested(s.Attest(ctx, ds[0], []sign.Attestation{
					{Type: sign.Provenance, Predicate: provenanceOf(t, strings.Repeat("f", 40), t0)},
					{Type: sign.Vuln, Predicate: scanOf(t, "clean.json", t0)},
				}, nil)))
			},
			verifier: v, expect: expect,
			want: map[string]string{"signature": "ok", "provenance": "the provenance names " + repoURL + "@ffff", "scan": "ok"},
		},
		{
			name: "the newest scan decides",
			sign: func(ds []name.Digest) {
				must(t, s.Sign(ctx, ds, nil))
				must(t, attested(s.Attest(ctx, ds[0], []sign.Attestation{
					{Type: sign.Provenance, Predicate: provenanceOf(t, commit, t0)},
					{Type: sign.Vuln, Predicate: scanOf(t, "clean.json", t0)},
					{Type: sign.Vuln, Predicate: scanOf(t, "findings.json", t0.Add(24*time.Hour))},
				}, nil)))
			},
			verifier: v, expect: expect,
			want: map[string]string{"provenance": "ok", "scan": "failing: CVE-2024-45337, CVE-2021-38561"},
		},
		{
			name: "the gate is the verifier's",
			sign: func(ds []name.Digest) {
				must(t, s.Sign(ctx, ds, nil))
				must(t, attested(s.Attest(ctx, ds[0], []sign.Attestation{
					{Type: sign.Provenance, Predicate: provenanceOf(t, commit, t0)},
					{Type: sign.Vuln, Predicate: scanOf(t, "medium-only.json", t0)},
				}, nil)))
			},
			verifier: v, expect: verify.Expect{Repository: repoURL, Severity: []string{"MEDIUM"}},
			want: map[string]string{"provenance": "ok", "scan": "failing: "},
		},
	}
	// verify IMAGE:TAG: the tag must be one a signed record of a publish
	// names for this repository (issue 21, item 3: a registry writer could
	// point any tag at any signed digest, an old one too, and verify of
	// that tag passed).
	repoOf := func(ds []name.Digest) string { return ds[0].Context().Name() }
	tests = append(tests, []struct {
		name     string
		sign     func(ds []name.Digest)
		verifier *sign.Verifier
		expect   verify.Expect
		want     map[string]string
	}{
		{
			name: "the tag is one the build published",
			sign: func(ds []name.Digest) {
				must(t, s.Sign(ctx, ds, nil))
				must(t, attested(s.Attest(ctx, ds[0], []sign.Attestation{
					{Type: sign.Provenance, Predicate: provenanceTagged(t, commit, t0, repoOf(ds), commit, "v1")},
				}, nil)))
			},
			verifier: v, expect: expect,
			want: map[string]string{"provenance": "ok", "tag": "ok"},
		},
		{
			name: "the tag is one a promotion published",
			sign: func(ds []name.Digest) {
				must(t, s.Sign(ctx, ds, nil))
				must(t, attested(s.Attest(ctx, ds[0], []sign.Attestation{
					{Type: sign.Provenance, Predicate: provenanceTagged(t, commit, t0, repoOf(ds), commit)},
					{Type: sign.Vuln, Predicate: scanTagged(t, "clean.json", t0.Add(time.Hour), repoOf(ds), "v1", "latest")},
				}, nil)))
			},
			verifier: v, expect: expect,
			want: map[string]string{"tag": "ok"},
		},
		{
			name: "a tag nobody published",
			sign: func(ds []name.Digest) {
				must(t, s.Sign(ctx, ds, nil))
				must(t, attested(s.Attest(ctx, ds[0], []sign.Attestation{
					{Type: sign.Provenance, Predicate: provenanceTagged(t, commit, t0, repoOf(ds), commit, "latest")},
				}, nil)))
			},
			verifier: v, expect: expect,
			want: map[string]string{"provenance": "ok", "tag": "someone else tagged it"},
		},
		{
			name: "the tag, published in another repository",
			sign: func(ds []name.Digest) {
				must(t, s.Sign(ctx, ds, nil))
				must(t, attested(s.Attest(ctx, ds[0], []sign.Attestation{
					{Type: sign.Provenance, Predicate: provenanceTagged(t, commit, t0, "registry.example/other", "v1")},
				}, nil)))
			},
			verifier: v, expect: expect,
			want: map[string]string{"tag": "no signed record publishes this digest as"},
		},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tag, ds := pushIndex(t)
			tt.sign(ds)
			r, err := Image(ctx, tag, tt.verifier, tt.expect, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Digest != ds[0].DigestStr() {
				t.Errorf("digest = %s, want %s", r.Digest, ds[0].DigestStr())
			}
			allOK := true
			for _, c := range r.Checks {
				want, ok := tt.want[c.Name]
				allOK = allOK && c.OK
				if !ok {
					continue
				}
				if want == "ok" {
					if !c.OK {
						t.Errorf("%s failed: %s", c.Name, c.Detail)
					}
				} else if c.OK || !strings.Contains(c.Detail, want) {
					t.Errorf("%s: ok=%v %q, want a failure saying %q", c.Name, c.OK, c.Detail, want)
				}
			}
			if r.OK() != allOK {
				t.Errorf("OK() = %v with checks %+v", r.OK(), r.Checks)
			}
			for name := range tt.want {
				if !slices.ContainsFunc(r.Checks, func(c verify.Check) bool { return c.Name == name }) {
					t.Errorf("no %s check in %+v", name, r.Checks)
				}
			}
		})
	}
}

func TestNoSuchImage(t *testing.T) {
	tag, _ := pushIndex(t)
	_, v := signer(t)
	if _, err := Image(context.Background(), tag.Context().Tag("nope"), v, verify.Expect{}, nil); err == nil {
		t.Error("a missing image verified without error")
	}
}

// attested is the error of an Attest.
func attested(_ []v1.Hash, err error) error { return err }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The run key a verified provenance records reaches the report, from the
// newest provenance of the commit: what a later run compares its own to.
func TestBuiltCarriesTheRunKey(t *testing.T) {
	ctx := context.Background()
	s, v := signer(t)
	tag, ds := pushIndex(t)
	withKey := func(key string, finished time.Time) []byte {
		p, err := attest.Provenance(attest.Run{Builder: attest.LocalBuilder, Repository: repoURL, Ref: "refs/heads/main", SHA: commit,
			TrivyDB: attest.DB{Repository: "r/db:2"}, Started: t0, RunKey: key}, finished)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	must(t, s.Sign(ctx, ds, nil))
	must(t, attested(s.Attest(ctx, ds[0], []sign.Attestation{
		{Type: sign.Provenance, Predicate: withKey("older-key", t0)},
		{Type: sign.Provenance, Predicate: withKey("newer-key", t0.Add(time.Hour))},
	}, nil)))
	r, err := Image(ctx, tag, v, verify.Expect{Repository: repoURL, Commit: commit, Severity: []string{"HIGH"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Built == nil || r.Built.RunKey != "newer-key" {
		t.Errorf("built = %+v, want the newest provenance's run key", r.Built)
	}
}

// Issue 21: keyless, the provenance is the signer's own word. A run for one
// commit (a pull request's, say) could sign a provenance that names main's;
// only a provenance whose commit, ref and repository are the ones the
// signing certificate vouches for counts.
func TestProvenanceMustMatchTheCertificate(t *testing.T) {
	main := &identity.Cert{Repository: repoURL, Ref: "refs/heads/main", SHA: commit}
	other := strings.Repeat("e", 40)
	stmt := func(c *identity.Cert) sign.Statement {
		return sign.Statement{PredicateType: sign.PredicateURI(sign.Provenance), Predicate: provenanceOf(t, commit, t0), Signer: c}
	}
	exp := verify.Expect{Repository: repoURL, Commit: commit}
	for _, tt := range []struct {
		name   string
		signer *identity.Cert
		want   string // part of the failed check's detail; "" passes
	}{
		{name: "a key's signature (no certificate)", signer: nil},
		{name: "certified for this commit and ref", signer: main},
		{name: "certified for another commit", signer: &identity.Cert{Repository: repoURL, Ref: "refs/heads/main", SHA: other},
			want: "signed by a run of " + other + " (ref refs/heads/main)"},
		{name: "certified for a pull request's ref", signer: &identity.Cert{Repository: repoURL, Ref: "refs/pull/7/merge", SHA: commit},
			want: "(ref refs/pull/7/merge)"},
		{name: "certified for another repository", signer: &identity.Cert{Repository: "https://github.com/evil/gantry", Ref: "refs/heads/main", SHA: commit},
			want: "of https://github.com/evil/gantry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, built := provenance([]sign.Statement{stmt(tt.signer)}, exp)
			if tt.want == "" {
				if !c.OK || built == nil || built.Commit != commit {
					t.Fatalf("check %+v, built %+v; want it to pass", c, built)
				}
				return
			}
			if c.OK || built != nil || !strings.Contains(c.Detail, tt.want) {
				t.Errorf("check %+v, built %+v; want a failure that says %q", c, built, tt.want)
			}
		})
	}
}

// Issue 21: --allow-dirty is in the signed provenance, and read back.
func TestBuiltSaysDirty(t *testing.T) {
	for _, dirty := range []bool{false, true} {
		p, err := attest.Provenance(attest.Run{Builder: attest.LocalBuilder, Repository: repoURL, Ref: "refs/heads/main", SHA: commit,
			Flags: map[string]any{"dirty": dirty}, Started: t0}, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		c, built := provenance([]sign.Statement{{PredicateType: sign.PredicateURI(sign.Provenance), Predicate: p}},
			verify.Expect{Repository: repoURL, Commit: commit})
		if !c.OK || built == nil || built.Dirty != dirty {
			t.Errorf("dirty=%v: check %+v, built %+v", dirty, c, built)
		}
	}
}

// The Go caches a provenance names reach the report as pinned references,
// read from what attest writes; a byproduct of another kind, or not
// pinned by sha256, is not one.
func TestBuiltCarriesTheGoCaches(t *testing.T) {
	caches := map[string]string{".": "ghcr.io/o/r@sha256:" + strings.Repeat("1a", 32), "app": "ghcr.io/o/r@sha256:" + strings.Repeat("2b", 32)}
	p, err := attest.Provenance(attest.Run{Builder: attest.LocalBuilder, Repository: repoURL, Ref: "refs/heads/main", SHA: commit,
		Started: t0, GoCaches: caches}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	c, built := provenance([]sign.Statement{{PredicateType: sign.PredicateURI(sign.Provenance), Predicate: p}},
		verify.Expect{Repository: repoURL, Commit: commit})
	if !c.OK || built == nil || !maps.Equal(built.GoCaches, caches) {
		t.Errorf("check %+v, built %+v; want the Go caches %v", c, built, caches)
	}
	for _, b := range []slsa1.ResourceDescriptor{
		{Name: "sbom", URI: "oci://ghcr.io/o/r", Digest: common.DigestSet{"sha256": strings.Repeat("1a", 32)}},
		{Name: attest.GoCachesByproduct + ".", URI: "https://example.com/x", Digest: common.DigestSet{"sha256": strings.Repeat("1a", 32)}},
		{Name: attest.GoCachesByproduct + ".", URI: "oci://ghcr.io/o/r", Digest: common.DigestSet{"sha512": strings.Repeat("1a", 64)}},
		{Name: attest.GoCachesByproduct + ".", URI: "oci://ghcr.io/o/r", Digest: common.DigestSet{"sha256": "latest"}},
	} {
		if got := goCaches([]slsa1.ResourceDescriptor{b}); got != nil {
			t.Errorf("%+v read as Go caches %v", b, got)
		}
	}
}

// The newest scan must hold a report of each platform's image, by its
// config digest, and with --max-scan-age be recent enough (issue 21,
// item 3: a scan of one platform, or of another image, passed for all).
func TestScanCoversEveryPlatform(t *testing.T) {
	ctx := context.Background()
	s, v := signer(t)

	// A two-platform index and each platform's config digest.
	idx := v1.ImageIndex(empty.Index)
	layers := map[string]string{} // platform -> its layer's diff ID, as JSON
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		layers["linux/"+arch] = `"` + cf.RootFS.DiffIDs[0].String() + `"`
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	// A report as Trivy writes it: the config digest it scanned (which
	// the publish changes, putting the healthcheck back) and the layers.
	report := func(diffID string) json.RawMessage {
		return json.RawMessage(`{"SchemaVersion":2,"ArtifactName":"image.tar","Metadata":{"ImageID":"sha256:` + strings.Repeat("c", 64) + `","DiffIDs":[` + diffID + `]},"Results":[{"Target":"app"}]}`)
	}
	scanned := func(t *testing.T, reports map[string]json.RawMessage) []byte {
		p, err := attest.Vuln(attest.Run{}, attest.Scan{Version: "0.69.3", Reports: reports,
			Gate: attest.Gate{Severities: []string{"HIGH", "CRITICAL"}, Passed: true}, Started: t0.Add(-time.Minute), Finished: t0})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	both := map[string]json.RawMessage{"linux/amd64": report(layers["linux/amd64"]), "linux/arm64": report(layers["linux/arm64"])}
	for _, tt := range []struct {
		name    string
		reports map[string]json.RawMessage
		maxAge  time.Duration
		want    string // "" passes; else part of the scan check's detail
	}{
		{name: "a report of each platform's image", reports: both},
		{name: "a platform left out", reports: map[string]json.RawMessage{"linux/amd64": report(layers["linux/amd64"])},
			want: "no report of the linux/arm64 image"},
		{name: "a report of another image", reports: map[string]json.RawMessage{"linux/amd64": report(layers["linux/arm64"]), "linux/arm64": report(layers["linux/arm64"])},
			want: "linux/amd64 report is of another image"},
		{name: "scanned within --max-scan-age", reports: both, maxAge: 240 * time.Hour},
		{name: "scanned before --max-scan-age", reports: both, maxAge: 168 * time.Hour,
			want: "the newest scan finished 2026-12-01T10:00:00Z, 216h0m0s ago, more than --max-scan-age 168h0m0s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A registry of its own: the attestations stay on the digest.
			srv := httptest.NewServer(registry.New())
			defer srv.Close()
			tag, err := name.NewTag(strings.TrimPrefix(srv.URL, "http://")+"/app:v1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.WriteIndex(tag, idx); err != nil {
				t.Fatal(err)
			}
			h, _ := idx.Digest()
			top := tag.Context().Digest(h.String())
			must(t, attested(s.Attest(ctx, top, []sign.Attestation{{Type: sign.Vuln, Predicate: scanned(t, tt.reports)}}, nil)))
			exp := verify.Expect{Repository: repoURL, Severity: []string{"HIGH", "CRITICAL"}, MaxScanAge: tt.maxAge, Now: t0.Add(216 * time.Hour)}
			r, err := Image(ctx, top, v, exp, nil)
			if err != nil {
				t.Fatal(err)
			}
			var c verify.Check
			for _, ch := range r.Checks {
				if ch.Name == "scan" {
					c = ch
				}
			}
			switch {
			case tt.want == "" && !c.OK:
				t.Errorf("scan failed: %s", c.Detail)
			case tt.want != "" && (c.OK || !strings.Contains(c.Detail, tt.want)):
				t.Errorf("scan: ok=%v %q, want a failure saying %q", c.OK, c.Detail, tt.want)
			}
		})
	}
}
