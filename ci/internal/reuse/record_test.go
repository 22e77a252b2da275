package reuse

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/ci/internal/identity"
	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/runplan"
	"github.com/gantry-ci/gantry/ci/internal/signing"
	"github.com/gantry-ci/gantry/ci/internal/tags"
	"github.com/gantry-ci/gantry/ci/internal/verify"
)

// Who must have signed the image a release promotes, from this run's
// signing plan and options.
func TestPromotionSigner(t *testing.T) {
	const issuer = "https://token.actions.githubusercontent.com"
	sha := strings.Repeat("a", 40)
	tagRun := signing.Claims{Issuer: issuer, JobWorkflowRef: "acme/app/.github/workflows/ci.yml@refs/tags/v1.2.3",
		Repository: "acme/app", RepositoryID: "7", Ref: "refs/tags/v1.2.3", EventName: "push"}
	keyless := func(rekor string) signing.Plan {
		return signing.Plan{Keyless: &signing.KeylessPlan{Claims: tagRun, RekorURL: rekor}}
	}
	roots := []byte("PEM roots")
	for _, tt := range []struct {
		name       string
		plan       signing.Plan
		opts       options.Options
		signer     string
		roots      bool
		ignoreTlog bool
		rekorKey   bool
		why        string
	}{
		{name: "key", plan: signing.Plan{Key: &signing.KeyPair{Public: []byte("pub")}}, signer: "this key"},
		{name: "public Sigstore", plan: keyless(options.DefaultRekorURL), opts: options.Options{FulcioURL: options.DefaultFulcioURL},
			signer: "workflow .github/workflows/ci.yml of acme/app"},
		{name: "private Fulcio without roots", plan: keyless(""), opts: options.Options{FulcioURL: "http://10.0.0.5:5555"},
			why: "http://10.0.0.5:5555's roots, and none were given: pass them with --ca-roots FILE"},
		{name: "private Fulcio, no Rekor", plan: keyless(""), opts: options.Options{FulcioURL: "http://10.0.0.5:5555", Roots: roots, IgnoreSCT: true},
			signer: "workflow .github/workflows/ci.yml of acme/app", roots: true, ignoreTlog: true},
		{name: "private Fulcio and Rekor", plan: keyless("http://10.0.0.5:5556"),
			opts:   options.Options{FulcioURL: "http://10.0.0.5:5555", Roots: roots, RekorKey: []byte("PEM key"), IgnoreSCT: true},
			signer: "workflow .github/workflows/ci.yml of acme/app", roots: true, rekorKey: true},
		{name: "private Rekor without its key", plan: keyless("http://10.0.0.5:5556"), opts: options.Options{FulcioURL: "http://10.0.0.5:5555", Roots: roots},
			why: "its signatures are in http://10.0.0.5:5556, whose key was not given: pass it with --rekor-key FILE"},
		{name: "a token without a workflow", plan: signing.Plan{Keyless: &signing.KeylessPlan{Claims: signing.Claims{Issuer: issuer}}},
			opts: options.Options{FulcioURL: options.DefaultFulcioURL}, why: "names no workflow"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.DefaultBranch = "main"
			signer, k, why := signerOf(&runplan.Run{Opts: &tt.opts, Sign: tt.plan, SHA: sha}, sha)
			if tt.why != "" {
				if !strings.Contains(why, tt.why) || k != nil {
					t.Errorf("why = %q, policy %+v; want no policy and %q", why, k, tt.why)
				}
				return
			}
			if why != "" || signer != tt.signer {
				t.Fatalf("signer %q, why %q; want %q", signer, why, tt.signer)
			}
			if tt.plan.Key != nil {
				if k != nil {
					t.Errorf("a key run verifies keylessly: %+v", k)
				}
				return
			}
			if (len(k.Roots) > 0) != tt.roots || k.IgnoreTlog != tt.ignoreTlog || k.IgnoreSCT != tt.opts.IgnoreSCT ||
				(len(k.RekorKey) > 0) != tt.rekorKey {
				t.Errorf("policy %+v", k)
			}
			// The certificate must vouch for this commit, and for a push of
			// main or a release tag of ci.yml of acme/app.
			want := identity.Policy{Issuer: issuer, Repository: "acme/app", RepositoryID: "7", Workflow: ".github/workflows/ci.yml",
				Trigger: "push", DefaultBranch: "main", SHA: sha}
			if k.Policy != want || k.Subject != "" || k.SubjectRegexp != "" {
				t.Errorf("identity policy %+v, want %+v", k.Policy, want)
			}
		})
	}
}

// A signed record is a hit only for this run's exact key, and only while
// every tag this run would write still points at the recorded digest;
// a record that failed to verify never is.
func TestRecorded(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	sha := strings.Repeat("c", 40)
	push := func(tag string) string {
		t.Helper()
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := name.NewTag(host+"/acme/app:"+tag, name.Insecure)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d.String()
	}
	built := push(sha)
	push("latest") // elsewhere, until a case points it at built
	pointLatest := func(at string) {
		t.Helper()
		src, _ := name.NewDigest(host+"/acme/app@"+at, name.Insecure)
		desc, err := remote.Get(src)
		if err != nil {
			t.Fatal(err)
		}
		dst, _ := name.NewTag(host+"/acme/app:latest", name.Insecure)
		if err := remote.Put(dst, desc); err != nil {
			t.Fatal(err)
		}
	}
	finished := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	verified := Sealed{image: host + "/acme/app:" + sha, signer: "this key",
		rep: verify.Report{Digest: built, Built: &verify.Built{Commit: sha, Finished: finished, Builder: "local", RunKey: "k1"}}}
	in := func(key, ref string) *runplan.Run {
		plan := tags.Plan{Tags: []string{sha, "latest"}, Version: sha[:12]}
		if ref == "refs/tags/v1.0.0" {
			plan = tags.Plan{Tags: []string{"1.0.0", "latest"}, Version: "1.0.0"}
		}
		return &runplan.Run{Opts: &options.Options{Registry: host, Image: "acme/app", Severity: []string{"HIGH"}}, Key: key, SHA: sha, Ref: ref,
			Tags: plan, Images: images.Set{InsecureRegistries: []string{host}}}
	}
	const main = "refs/heads/main"
	for _, tt := range []struct {
		name   string
		in     *runplan.Run
		s      Sealed
		latest string // where latest points; "" leaves it
		hit    bool
		says   string // part of the one line printed; "" for none
	}{
		{name: "tags elsewhere", in: in("k1", main), s: verified, says: "its tags moved since"},
		{name: "same inputs, tags in place", in: in("k1", main), s: verified, latest: built, hit: true,
			says: "cached: the signed provenance of " + verified.image + "@" + built + " records these exact inputs passing every stage at 2026-12-01T09:00:00Z"},
		{name: "other inputs", in: in("k2", main), s: verified, says: "was built from other inputs"},
		{name: "a release: Promotion decides", in: in("k2", "refs/tags/v1.0.0"), s: verified},
		{name: "no key for this run", in: in("", main), s: verified},
		{name: "unsigned", in: in("k1", main), s: Sealed{image: verified.image, why: "no valid signature by the key"},
			says: "no run record in " + verified.image + ": no valid signature by the key; running every stage"},
		{name: "nothing there", in: in("k1", main), s: Sealed{image: verified.image, absent: true, why: "there is no image under its SHA tag"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.latest != "" {
				pointLatest(tt.latest)
			}
			var out bytes.Buffer
			sum, hit := Recorded(context.Background(), tt.in, tt.s, &out)
			if hit != tt.hit {
				t.Fatalf("hit = %v, want %v (%s)", hit, tt.hit, out.String())
			}
			line := strings.TrimSpace(out.String())
			if tt.says == "" && line != "" || !strings.Contains(line, tt.says) || strings.Contains(line, "\n") {
				t.Errorf("printed %q, want one line with %q", line, tt.says)
			}
			if !hit {
				return
			}
			if sum.Digest != built || len(sum.Refs) != 2 || len(sum.Stages) != 5 {
				t.Errorf("summary %+v", sum)
			}
			for _, st := range sum.Stages {
				if st.Status != "cached" {
					t.Errorf("stage %s is %s, want cached", st.Name, st.Status)
				}
			}
		})
	}
}

// Issue 21: a build from a dirty work tree (--allow-dirty) is not the
// commit: never promoted, never a run record, whatever else verifies.
func TestDirtyBuildIsNoRecord(t *testing.T) {
	passed := []verify.Check{{Name: "signature", OK: true}, {Name: "provenance", OK: true}, {Name: "scan", OK: true}}
	for _, tt := range []struct {
		name  string
		built verify.Built
		why   string
	}{
		{name: "clean", built: verify.Built{Commit: strings.Repeat("c", 40)}},
		{name: "dirty", built: verify.Built{Commit: strings.Repeat("c", 40), Dirty: true}, why: "uncommitted changes (--allow-dirty)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s Sealed
			s.judge(verify.Report{Digest: "sha256:d", Checks: passed, Built: &tt.built}, nil)
			if tt.why == "" {
				if s.why != "" || s.rep.Built == nil {
					t.Fatalf("why = %q, want the record taken", s.why)
				}
				return
			}
			if !strings.Contains(s.why, tt.why) || s.rep.Built != nil {
				t.Errorf("why = %q, rep %+v; want %q and no record", s.why, s.rep, tt.why)
			}
			var out bytes.Buffer
			if _, ok := Promotion(&runplan.Run{Opts: &options.Options{}}, s, &out); ok || !strings.Contains(out.String(), tt.why) {
				t.Errorf("promotion: %v, %q", ok, out.String())
			}
		})
	}
}
