package signing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gantry-ci/gantry/ci/internal/identity"
)

// Audience is the audience Fulcio accepts tokens for.
const Audience = "sigstore"

// ActionsOIDC is GitHub Actions' OIDC token service, as a job with
// `permissions: id-token: write` reaches it: ACTIONS_ID_TOKEN_REQUEST_URL,
// with ACTIONS_ID_TOKEN_REQUEST_TOKEN as the bearer.
type ActionsOIDC struct {
	URL, RequestToken string
	Client            *http.Client // nil: a client with a 30 s timeout
}

// ActionsFromEnv is the token service of this job, or nil when the job
// can't request tokens.
func ActionsFromEnv(getenv func(string) string) *ActionsOIDC {
	u, t := getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if u == "" || t == "" {
		return nil
	}
	return &ActionsOIDC{URL: u, RequestToken: t}
}

// Token requests a token for Audience. Tokens live minutes, so the
// pipeline asks for a fresh one right before it signs.
func (a *ActionsOIDC) Token(ctx context.Context) (string, error) {
	u, err := url.Parse(a.URL)
	if err != nil {
		return "", fmt.Errorf("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("audience", Audience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+a.RequestToken)
	req.Header.Set("Accept", "application/json")
	c := a.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		// The URL's query may carry a credential: name the host only.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", fmt.Errorf("requesting the OIDC token from %s: %v", u.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("reading the OIDC token from %s: %v", u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("requesting the OIDC token from %s: %s", u.Host, resp.Status)
	}
	var out struct{ Value string }
	if err := json.Unmarshal(body, &out); err != nil || out.Value == "" {
		return "", fmt.Errorf("the OIDC token service at %s answered without a token", u.Host)
	}
	return out.Value, nil
}

// Claims are the parts of an OIDC token the plan names: what Fulcio will
// certify (its GitHub extensions are made of them).
type Claims struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	// JobWorkflowRef is GitHub's OWNER/REPO/.github/workflows/F@REF, which
	// Fulcio certifies as https://github.com/ + it.
	JobWorkflowRef string `json:"job_workflow_ref"`
	Repository     string `json:"repository"`    // OWNER/REPO
	RepositoryID   string `json:"repository_id"` // GitHub's numeric ID
	Ref            string `json:"ref"`
	SHA            string `json:"sha"`
	EventName      string `json:"event_name"` // the trigger: push, pull_request, …
	// RepositoryVisibility is public, private or internal.
	RepositoryVisibility string           `json:"repository_visibility"`
	Expiry               *jwt.NumericDate `json:"exp"`
}

// Cert is what Fulcio's certificate for this token will vouch for.
func (c Claims) Cert() identity.Cert {
	return identity.Cert{Subject: "https://github.com/" + c.JobWorkflowRef, Issuer: c.Issuer,
		Repository: "https://github.com/" + c.Repository, RepositoryID: c.RepositoryID,
		Trigger: c.EventName, Ref: c.Ref, SHA: c.SHA}
}

// Release is the policy for signatures that count as this workflow's:
// the workflow file the token names, of its repository (by name and ID),
// run by a push to defaultBranch or a release tag. The signer a release
// may promote the image of (a push to main signs as …/ci.yml@refs/heads/main,
// its tag releases it), and the run record's.
func (c Claims) Release(defaultBranch string) (identity.Policy, error) {
	path, _, ok := strings.Cut(c.JobWorkflowRef, "@")
	workflow, found := strings.CutPrefix(path, c.Repository+"/")
	if !ok || c.Repository == "" || !found || workflow == "" {
		return identity.Policy{}, fmt.Errorf("the OIDC token names no workflow of its repository (job_workflow_ref %q, repository %q)", c.JobWorkflowRef, c.Repository)
	}
	p := identity.Release(c.Repository, defaultBranch)
	p.Issuer, p.RepositoryID, p.Workflow = c.Issuer, c.RepositoryID, workflow
	return p, nil
}

// tokenAlgorithms are the signature algorithms of OIDC tokens (RFC 7518).
var tokenAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512,
	jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA}

// ReadClaims reads a token's claims without checking its signature
// (Fulcio does that) and checks it names an issuer and a subject and has
// not expired at now.
func ReadClaims(raw string, now time.Time) (Claims, error) {
	tok, err := jwt.ParseSigned(raw, tokenAlgorithms)
	if err != nil {
		return Claims{}, fmt.Errorf("the OIDC token is not a JWT: %v", err)
	}
	var c Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return Claims{}, fmt.Errorf("reading the OIDC token's claims: %v", err)
	}
	switch {
	case c.Issuer == "" || c.Subject == "":
		return Claims{}, errors.New("the OIDC token names no issuer or subject")
	case c.Expiry == nil:
		return Claims{}, errors.New("the OIDC token has no expiry")
	case !c.Expiry.Time().After(now):
		return Claims{}, fmt.Errorf("the OIDC token expired at %s", c.Expiry.Time().UTC().Format(time.RFC3339))
	}
	return c, nil
}
