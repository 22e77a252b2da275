package signing

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/sigstore/cosign/v2/pkg/cosign"
)

func TestDecide(t *testing.T) {
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return []byte("s3cret"), nil })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "cosign.key")
	pubFile := filepath.Join(dir, "cosign.pub")
	junk := filepath.Join(dir, "junk")
	os.WriteFile(keyFile, keys.PrivateBytes, 0o600)
	os.WriteFile(pubFile, keys.PublicBytes, 0o644)
	os.WriteFile(junk, []byte("not a key"), 0o600)
	env := map[string]string{"SIGN_KEY": string(keys.PrivateBytes)}
	getenv := func(k string) string { return env[k] }

	tests := []struct {
		name     string
		in       Input
		signed   bool
		unsigned string // part of Plan.Unsigned
		err      string // part of the error
	}{
		{name: "key file and password", in: Input{Mode: Key, KeyRef: keyFile, Password: "s3cret", HasPassword: true}, signed: true},
		{name: "auto with a key signs", in: Input{Mode: Auto, KeyRef: keyFile, Password: "s3cret", HasPassword: true}, signed: true},
		{name: "key from the environment", in: Input{Mode: Key, KeyRef: "env://SIGN_KEY", Password: "s3cret", HasPassword: true}, signed: true},
		{name: "wrong password", in: Input{Mode: Key, KeyRef: keyFile, Password: "guess", HasPassword: true}, err: "wrong password"},
		{name: "auto with a key and a wrong password", in: Input{Mode: Auto, KeyRef: keyFile, Password: "guess", HasPassword: true}, err: "wrong password"},
		{name: "no password", in: Input{Mode: Key, KeyRef: keyFile}, err: "set COSIGN_PASSWORD"},
		{name: "no key", in: Input{Mode: Key, HasPassword: true}, err: "needs --sign-key"},
		{name: "missing key file", in: Input{Mode: Key, KeyRef: filepath.Join(dir, "nope"), HasPassword: true}, err: "no such file"},
		{name: "a public key", in: Input{Mode: Key, KeyRef: pubFile, HasPassword: true}, err: `"PUBLIC KEY", not an encrypted cosign private key`},
		{name: "not PEM", in: Input{Mode: Key, KeyRef: junk, HasPassword: true}, err: "not a PEM file"},
		{name: "empty key variable", in: Input{Mode: Key, KeyRef: "env://NOPE", HasPassword: true}, err: "$NOPE is empty"},
		{name: "keyless without a token service", in: Input{Mode: Keyless, Publishing: true}, err: "`permissions: id-token: write`"},
		{name: "auto without a key", in: Input{Mode: Auto}, unsigned: "no --sign-key"},
		{name: "off", in: Input{Mode: Off, KeyRef: keyFile}, unsigned: "--sign off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Getenv = getenv
			p, err := Decide(context.Background(), tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to say %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "guess") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (p.Key != nil) != tt.signed {
				t.Fatalf("signed = %v, want %v", p.Key != nil, tt.signed)
			}
			if !strings.Contains(p.Unsigned, tt.unsigned) || (tt.signed && p.Unsigned != "") {
				t.Errorf("Unsigned = %q, want it to say %q", p.Unsigned, tt.unsigned)
			}
			if p.Key != nil && !bytes.Equal(p.Key.Public, keys.PublicBytes) {
				t.Errorf("public key differs from cosign's:\n%s\nwant\n%s", p.Key.Public, keys.PublicBytes)
			}
		})
	}
}

// tokenService is GitHub Actions' token endpoint as a job sees it: a bearer
// request token in, {"value": JWT} out, the JWT's claims given.
func tokenService(t *testing.T, claims map[string]any) (*ActionsOIDC, *atomic.Int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer request-s3cret" || r.URL.Query().Get("audience") != Audience ||
			r.URL.Query().Get("api-version") != "2.0" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if claims == nil {
			fmt.Fprint(w, `{"value":"not.a.jwt"}`)
			return
		}
		raw, err := jwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"value": raw})
	}))
	t.Cleanup(srv.Close)
	return &ActionsOIDC{URL: srv.URL + "/token?api-version=2.0", RequestToken: "request-s3cret"}, &calls
}

func TestDecideKeyless(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	claims := func(exp time.Time) map[string]any {
		return map[string]any{"iss": "https://token.actions.githubusercontent.com", "sub": "repo:acme/app:ref:refs/heads/main",
			"job_workflow_ref": "acme/app/.github/workflows/ci.yml@refs/heads/main", "exp": exp.Unix(),
			"repository": "acme/app", "repository_id": "7", "ref": "refs/heads/main", "sha": strings.Repeat("a", 40), "event_name": "push"}
	}
	// The tokens hostile code gets: a pull request's, a branch's.
	pullRequest := claims(now.Add(5 * time.Minute))
	pullRequest["job_workflow_ref"], pullRequest["ref"], pullRequest["event_name"] =
		"acme/app/.github/workflows/ci.yml@refs/pull/7/merge", "refs/pull/7/merge", "pull_request"
	pr, _ := tokenService(t, pullRequest)
	branch := claims(now.Add(5 * time.Minute))
	branch["job_workflow_ref"], branch["ref"] = "acme/app/.github/workflows/ci.yml@refs/heads/feature", "refs/heads/feature"
	feature, _ := tokenService(t, branch)
	visible := func(v string) *ActionsOIDC {
		c := claims(now.Add(5 * time.Minute))
		c["repository_visibility"] = v
		svc, _ := tokenService(t, c)
		return svc
	}
	good, _ := tokenService(t, claims(now.Add(5*time.Minute)))
	expired, _ := tokenService(t, claims(now.Add(-time.Second)))
	junk, _ := tokenService(t, nil)
	wrong := *good
	wrong.RequestToken = "guess"
	unreachable := &ActionsOIDC{URL: "http://127.0.0.1:1/token?api-version=2.0", RequestToken: "request-s3cret"}

	tests := []struct {
		name string
		in   Input
		err  string // part of the error; "" for a keyless plan
	}{
		{name: "keyless", in: Input{Mode: Keyless, OIDC: good}},
		{name: "auto in Actions", in: Input{Mode: Auto, OIDC: good}},
		{name: "expired token", in: Input{Mode: Keyless, OIDC: expired}, err: "the OIDC token expired at 2026-12-02T09:59:59Z"},
		{name: "not a JWT", in: Input{Mode: Keyless, OIDC: junk}, err: "the OIDC token is not a JWT"},
		{name: "refused", in: Input{Mode: Keyless, OIDC: &wrong}, err: "401 Unauthorized"},
		{name: "unreachable", in: Input{Mode: Keyless, OIDC: unreachable}, err: "requesting the OIDC token from 127.0.0.1:1"},
		// Issue 21: a signature that promotion, the run record and verify
		// would refuse is not made.
		{name: "a pull request's token", in: Input{Mode: Keyless, OIDC: pr},
			err: "this run's OIDC token is not one whose signatures count: signed by https://github.com/acme/app/.github/workflows/ci.yml@refs/pull/7/merge (ref refs/pull/7/merge, trigger pull_request): a run triggered by pull_request"},
		{name: "a branch's token", in: Input{Mode: Keyless, OIDC: feature}, err: "a run for refs/heads/feature; want .github/workflows/ci.yml of acme/app, run by push for refs/heads/main or a release tag; publish from a push to main or a release tag, or pass --sign off"},
		// Issue 21: a private repository's keyless signature would publish
		// its name, workflow and commits in Sigstore's public log.
		{name: "public repository, public log by default", in: Input{Mode: Keyless, OIDC: visible("public"), RekorDefault: true}},
		{name: "private repository, public log by default", in: Input{Mode: Keyless, OIDC: visible("private"), RekorDefault: true},
			err: "the repository is private, and a keyless signature would write its name, workflow and commit into Sigstore's public transparency log https://rekor.example: pass --rekor-url https://rekor.example to accept that"},
		{name: "internal repository, public log by default", in: Input{Mode: Keyless, OIDC: visible("internal"), RekorDefault: true}, err: "the repository is internal, and"},
		{name: "visibility unknown, public log by default", in: Input{Mode: Keyless, OIDC: good, RekorDefault: true}, err: "no repository_visibility claim"},
		{name: "private repository, log chosen", in: Input{Mode: Keyless, OIDC: visible("private")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Publishing, tt.in.Now, tt.in.DefaultBranch = true, func() time.Time { return now }, "main"
			tt.in.FulcioURL, tt.in.RekorURL = "https://fulcio.example", "https://rekor.example"
			p, err := Decide(context.Background(), tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to say %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("the error shows the request token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k := p.Keyless
			if k == nil || p.Key != nil || p.Unsigned != "" {
				t.Fatalf("plan = %+v, want keyless", p)
			}
			if k.Claims.Issuer != "https://token.actions.githubusercontent.com" || k.Claims.JobWorkflowRef != "acme/app/.github/workflows/ci.yml@refs/heads/main" {
				t.Errorf("claims = %+v", k.Claims)
			}
			if k.FulcioURL != "https://fulcio.example" || k.RekorURL != "https://rekor.example" {
				t.Errorf("services = %s, %s", k.FulcioURL, k.RekorURL)
			}
			if _, err := k.Token(context.Background()); err != nil {
				t.Errorf("a fresh token: %v", err)
			}
		})
	}
}

func TestKeylessDryRunRequestsNoToken(t *testing.T) {
	svc, calls := tokenService(t, map[string]any{"iss": "x", "sub": "y", "exp": time.Now().Add(time.Hour).Unix()})
	p, err := Decide(context.Background(), Input{Mode: Keyless, OIDC: svc, Now: time.Now})
	if err != nil || p.Keyless == nil {
		t.Fatalf("plan = %+v, %v", p, err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("a run that does not publish requested %d token(s)", n)
	}
}
