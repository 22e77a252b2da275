package publisher

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
	"github.com/gantry-ci/gantry/ci/internal/identity"
	"github.com/gantry-ci/gantry/ci/internal/tags"
	"github.com/gantry-ci/gantry/ci/internal/verify"
)

func TestValidate(t *testing.T) {
	const d = "sha256:9c63108afca75b0545031f4fba518bc810058c41aa2c9fc27dbfac25eea70df7"
	repo := "ghcr.io/acme/app"
	for _, tt := range []struct {
		name string
		req  Request
		want string // in the error; "" for none
	}{
		{"stage an archive", Request{Repository: repo, Publish: &Publish{Mode: Stage, Archive: "/in/image.tar", Timeout: time.Minute}}, ""},
		{"tag a staged digest", Request{Repository: repo, Publish: &Publish{Mode: Tag, From: d, Tags: []string{"latest"}, Timeout: time.Minute}}, ""},
		{"attest a rescan", Request{Repository: repo, Publish: &Publish{Mode: AttestOnly, From: d, Attest: []Attestation{{"vuln", "/in/att/scan.json"}}, Timeout: time.Minute}}, ""},
		{"a revision", Request{Repository: repo, Revision: &Revision{Tag: "latest"}}, ""},
		{"an alias", Request{Repository: repo, AliasVersion: &AliasVersion{Alias: "1.5", Flavor: tags.Flavor{Suffix: "-node"}}}, ""},
		{"the layer cache", Request{CacheStatus: &CacheStatus{Ref: repo + ":buildcache"}}, ""},
		{"a check", Request{Verify: &Verify{Image: repo + ":1", PublicKey: []byte("PEM")}}, ""},
		{"nothing to do", Request{Repository: repo}, "exactly one operation"},
		{"two things", Request{Repository: repo, Revision: &Revision{Tag: "latest"}, CacheStatus: &CacheStatus{Ref: "r:t"}}, "not 2"},
		{"no repository", Request{Revision: &Revision{Tag: "latest"}}, "no Repository"},
		{"an archive and a digest", Request{Repository: repo, Publish: &Publish{Mode: Stage, Archive: "/a", From: d, Timeout: time.Minute}}, "an Archive or a From digest"},
		{"no mode", Request{Repository: repo, Publish: &Publish{Archive: "/a", Timeout: time.Minute}}, `mode "" is not`},
		{"attest-only with tags", Request{Repository: repo, Publish: &Publish{Mode: AttestOnly, From: d, Tags: []string{"x"}, Attest: []Attestation{{"vuln", "/f"}}, Timeout: time.Minute}}, "writes no Tags"},
		{"tags without tags", Request{Repository: repo, Publish: &Publish{Mode: Tag, From: d, Timeout: time.Minute}}, "names no Tags"},
		{"no timeout", Request{Repository: repo, Publish: &Publish{Mode: Stage, Archive: "/a"}}, "Timeout must be positive"},
		{"latest as an alias", Request{Repository: repo, AliasVersion: &AliasVersion{Alias: "latest"}}, "not a release alias"},
		{"a check with a key and a policy", Request{Verify: &Verify{Image: "r:1", PublicKey: []byte("PEM"), Keyless: &verify.Keyless{}}}, "a PublicKey or a Keyless policy"},
		{"a check with neither", Request{Verify: &Verify{Image: "r:1"}}, "a PublicKey or a Keyless policy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// A request reaches gantry-publish as JSON: every field survives the trip.
func TestRoundTrip(t *testing.T) {
	reqs := []Request{
		{Repository: "r", Username: "u", Insecure: true, Publish: &Publish{Mode: Stage, Archive: "/in/image.tar",
			Healthcheck: &dockerfile.Healthcheck{Test: []string{"CMD", "/app", "healthcheck"}, Interval: 15 * time.Second},
			Keyless:     &Keyless{FulcioURL: "https://fulcio", RekorURL: "https://rekor"},
			Attest:      []Attestation{{"slsaprovenance1", "/in/att/provenance.json"}, {"cyclonedx", "/in/att/a.json"}, {"cyclonedx", "/in/att/b.json"}},
			Timeout:     8 * time.Minute}},
		{Verify: &Verify{Image: "r:1", Keyless: &verify.Keyless{Policy: identity.Policy{Issuer: "https://token.actions.githubusercontent.com", Repository: "acme/app"},
			SubjectRegexp: "^https://", Roots: []byte("PEM"), IgnoreSCT: true, RekorKey: []byte("KEY")},
			Expect: verify.Expect{Repository: "https://github.com/acme/app", Commit: "c0ffee", Severity: []string{"HIGH"}, MaxScanAge: time.Hour}}},
	}
	for _, r := range reqs {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Request
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", back, r)
		}
	}
}
