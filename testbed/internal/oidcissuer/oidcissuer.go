// Package oidcissuer is a stand-in for GitHub Actions' OIDC token service,
// for keyless signing on the offline bed: an OpenID provider (discovery
// document and signing keys, which Fulcio fetches to check a token) and the
// token endpoint a job reaches through ACTIONS_ID_TOKEN_REQUEST_URL and
// ACTIONS_ID_TOKEN_REQUEST_TOKEN, issuing RS256 tokens with the claims
// GitHub's carry.
package oidcissuer

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer serves tokens for one workflow run.
type Issuer struct {
	// URL is the issuer (the tokens' iss); the token endpoint is
	// URL/token, for RequestToken.
	URL          string
	RequestToken string
	// Now is the issuer's clock.
	Now func() time.Time
	// Issued counts the tokens handed out.
	Issued atomic.Int64

	mu     sync.Mutex
	claims map[string]any // what every token says besides iss, aud, iat, nbf, exp

	key    *rsa.PrivateKey
	kid    string
	signer jose.Signer
	srv    *http.Server
}

// Lifetime of a token, as GitHub's.
const Lifetime = 10 * time.Minute

// Start serves an issuer on l (its URL is http://l's address).
func Start(l net.Listener, claims map[string]any) (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 8)
	rand.Read(id)
	kid := hex.EncodeToString(id)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	is := &Issuer{URL: "http://" + l.Addr().String(), RequestToken: hex.EncodeToString(tok), claims: claims,
		Now: time.Now, key: key, kid: kid, signer: signer}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("GET /keys", is.keys)
	mux.HandleFunc("GET /token", is.token)
	is.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go is.srv.Serve(l)
	return is, nil
}

// Close stops the server.
func (is *Issuer) Close() error { return is.srv.Close() }

// SetClaims makes the tokens issued from now on say claims: the next
// job, say a tag push after a push to main.
func (is *Issuer) SetClaims(claims map[string]any) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.claims = claims
}

// TokenURL is what ACTIONS_ID_TOKEN_REQUEST_URL holds.
func (is *Issuer) TokenURL() string { return is.URL + "/token?api-version=2.0" }

func (is *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                is.URL,
		"jwks_uri":                              is.URL + "/keys",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public", "pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository", "job_workflow_ref"},
	})
}

func (is *Issuer) keys(w http.ResponseWriter, _ *http.Request) {
	pub := jose.JSONWebKey{Key: &is.key.PublicKey, Algorithm: string(jose.RS256), Use: "sig", KeyID: is.kid}
	writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
}

// token answers as GitHub's endpoint does: {"value": JWT} for the bearer
// RequestToken, with the audience the query asks for.
func (is *Issuer) token(w http.ResponseWriter, r *http.Request) {
	want := "Bearer " + is.RequestToken
	if got := r.Header.Get("Authorization"); subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		http.Error(w, "bad request token", http.StatusUnauthorized)
		return
	}
	is.mu.Lock()
	claims := maps.Clone(is.claims)
	is.mu.Unlock()
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		aud = "https://github.com/" + fmt.Sprint(claims["repository_owner"])
	}
	now := is.Now()
	maps.Copy(claims, map[string]any{
		"iss": is.URL, "aud": aud,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(Lifetime).Unix(),
	})
	raw, err := jwt.Signed(is.signer).Claims(claims).Serialize()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	is.Issued.Add(1)
	writeJSON(w, map[string]string{"value": raw})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// GitHubClaims are the claims of a push to ref of repo at sha, run by the
// workflow file workflow (.github/workflows/ci.yml), as GitHub sets them.
func GitHubClaims(repo, ref, sha, workflow string) map[string]any {
	owner, _, _ := strings.Cut(repo, "/")
	refType := "branch"
	if strings.HasPrefix(ref, "refs/tags/") {
		refType = "tag"
	}
	jobWorkflowRef := repo + "/" + workflow + "@" + ref
	return map[string]any{
		"sub":                   "repo:" + repo + ":ref:" + ref,
		"ref":                   ref,
		"sha":                   sha,
		"repository":            repo,
		"repository_id":         "1000001",
		"repository_owner":      owner,
		"repository_owner_id":   "1000000",
		"repository_visibility": "public",
		"run_id":                "42",
		"run_number":            "7",
		"run_attempt":           "1",
		"runner_environment":    "github-hosted",
		"actor":                 "octocat",
		"event_name":            "push",
		"ref_type":              refType,
		"workflow":              "CI",
		"workflow_ref":          jobWorkflowRef,
		"workflow_sha":          sha,
		"job_workflow_ref":      jobWorkflowRef,
		"job_workflow_sha":      sha,
	}
}
