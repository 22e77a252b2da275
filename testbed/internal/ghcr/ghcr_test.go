package ghcr

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Tokens grant what GHCR's would: pull to anyone, push to the user with
// its password, delete to nobody; bad credentials get no token. Each token
// is signed by the key of the certificate in its x5c header, which the
// registry's root bundle holds.
func TestTokens(t *testing.T) {
	ts, err := NewTokenService("e2e", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	// A clock inside the root's validity, which starts when the service is
	// made (a fixed date passed only on the day it was written).
	block, _ := pem.Decode(ts.RootPEM())
	if block == nil {
		t.Fatal("RootPEM holds no PEM block")
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	at := root.NotBefore.Add(90 * time.Minute).Truncate(time.Second)
	ts.Now = func() time.Time { return at }
	srv := httptest.NewServer(ts)
	defer srv.Close()
	scope := "repository:e2e/app:pull,push,delete"
	tests := []struct {
		name, user, password string
		status               int
		actions              []string
	}{
		{"anonymous", "", "", http.StatusOK, []string{"pull"}},
		{"the user", "e2e", "s3cret", http.StatusOK, []string{"pull", "push"}},
		{"a wrong password", "e2e", "guess", http.StatusUnauthorized, nil},
		{"another user", "mallory", "s3cret", http.StatusUnauthorized, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/token?service="+Service+"&scope="+scope, nil)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.password)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != http.StatusOK {
				return
			}
			var body struct{ Token string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			tok, err := jwt.ParseSigned(body.Token, []jose.SignatureAlgorithm{jose.ES256})
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(ts.RootPEM())
			chains, err := tok.Headers[0].Certificates(x509.VerifyOptions{Roots: roots, CurrentTime: at})
			if err != nil || len(chains) == 0 {
				t.Fatalf("the x5c header does not chain to the registry's root: %v", err)
			}
			cert := chains[0][0]
			var std jwt.Claims
			var grants struct {
				Access []access `json:"access"`
			}
			if err := tok.Claims(cert.PublicKey, &std, &grants); err != nil {
				t.Fatalf("the token is not signed by its x5c key: %v", err)
			}
			if err := std.ValidateWithLeeway(jwt.Expected{Issuer: Issuer, AnyAudience: jwt.Audience{Service}, Time: at}, 0); err != nil {
				t.Errorf("claims: %v", err)
			}
			if len(grants.Access) != 1 || grants.Access[0].Name != "e2e/app" || !slices.Equal(grants.Access[0].Actions, tt.actions) {
				t.Errorf("access = %+v, want e2e/app with %v", grants.Access, tt.actions)
			}
		})
	}
}

// distribution 2.8 reads aud as one string, not a list.
func TestAudienceIsAString(t *testing.T) {
	ts, err := NewTokenService("e2e", "pw")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.token("e2e", nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := parsed.UnsafeClaimsWithoutVerification(&raw); err != nil {
		t.Fatal(err)
	}
	if aud, ok := raw["aud"].(string); !ok || aud != Service {
		t.Errorf("aud = %#v, want the string %q", raw["aud"], Service)
	}
}

func TestBadScope(t *testing.T) {
	for _, scope := range []string{"registry:catalog:*", "repository:app", "repository::pull"} {
		if _, err := grant(scope, []string{"pull"}); err == nil {
			t.Errorf("grant(%q) passed", scope)
		}
	}
}
