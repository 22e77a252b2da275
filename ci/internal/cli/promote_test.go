package cli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/signing"
)

// Who must have signed the image a release promotes, from this run's
// signing plan and options.
func TestPromotionSigner(t *testing.T) {
	const issuer = "https://token.actions.githubusercontent.com"
	tagRun := signing.Claims{Issuer: issuer, JobWorkflowRef: "acme/app/.github/workflows/ci.yml@refs/tags/v1.2.3"}
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
		why        string
	}{
		{name: "key", plan: signing.Plan{Key: &signing.KeyPair{Public: []byte("pub")}}, signer: "this key"},
		{name: "public Sigstore", plan: keyless(options.DefaultRekorURL), opts: options.Options{FulcioURL: options.DefaultFulcioURL},
			signer: "workflow acme/app/.github/workflows/ci.yml"},
		{name: "private Fulcio without roots", plan: keyless(""), opts: options.Options{FulcioURL: "http://10.0.0.5:5555"},
			why: "http://10.0.0.5:5555's roots, and none were given: pass them with --ca-roots FILE"},
		{name: "private Fulcio, no Rekor", plan: keyless(""), opts: options.Options{FulcioURL: "http://10.0.0.5:5555", Roots: roots, IgnoreSCT: true},
			signer: "workflow acme/app/.github/workflows/ci.yml", roots: true, ignoreTlog: true},
		{name: "a token without a workflow", plan: signing.Plan{Keyless: &signing.KeylessPlan{Claims: signing.Claims{Issuer: issuer}}},
			opts: options.Options{FulcioURL: options.DefaultFulcioURL}, why: "names no workflow"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			signer, k, why := promotionSigner(&inputs{opts: &tt.opts, sign: tt.plan})
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
			if k.Issuer != issuer || (len(k.Roots) > 0) != tt.roots || k.IgnoreTlog != tt.ignoreTlog || k.IgnoreSCT != tt.opts.IgnoreSCT {
				t.Errorf("policy %+v", k)
			}
			re := regexp.MustCompile(k.IdentityRegexp)
			if !re.MatchString("https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main") ||
				re.MatchString("https://github.com/acme/app/.github/workflows/other.yml@refs/heads/main") {
				t.Errorf("identity pattern %s does not single out ci.yml of acme/app", k.IdentityRegexp)
			}
		})
	}
}
