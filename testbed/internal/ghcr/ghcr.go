// Package ghcr gives the bed a registry that behaves like GHCR where it
// matters to a publish: `/v2/` answers with a Bearer challenge, a token
// service issues tokens scoped to one repository and the actions asked for,
// DELETE of tags and manifests is refused, and there is no referrers API
// (referrers go in the referrers tag). The registry is Debian's
// docker-registry (distribution 2.8) with token auth and deletes disabled
// (registry.Registry's Token and NoDelete); the token service is this
// package's, the Docker token protocol as distribution verifies it.
package ghcr

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	// Service is the registry's name in its challenge and the tokens'
	// audience; Issuer names the token service.
	Service = "gantry-testbed-ghcr"
	Issuer  = "gantry-testbed-token-service"
	// Lifetime of a token (GHCR's are short-lived too).
	Lifetime = 5 * time.Minute
)

// TokenService issues registry tokens: to anyone, pull (a public package);
// to the one user with its password, pull and push. Never delete.
type TokenService struct {
	User, Password string
	// Now is the clock tokens are stamped with.
	Now func() time.Time

	key    *ecdsa.PrivateKey
	cert   []byte // DER, self-signed: the registry's root of trust
	signer jose.Signer
}

// NewTokenService makes a service with a fresh signing key and its
// certificate.
func NewTokenService(user, password string) (*TokenService, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: Issuer},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	// distribution finds the signing key in the x5c chain, which its
	// root bundle must vouch for.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(cert)}))
	if err != nil {
		return nil, err
	}
	return &TokenService{User: user, Password: password, Now: time.Now, key: key, cert: cert, signer: signer}, nil
}

// RootPEM is the certificate the registry trusts tokens from.
func (ts *TokenService) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.cert})
}

// access is one grant of a token, as distribution reads it.
type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// ServeHTTP answers GET ?service=…&scope=repository:NAME:ACTIONS… with a
// token granting, per scope, the actions asked for that the caller may
// have. Wrong credentials get 401, as a token service answers them.
func (ts *TokenService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if s := q.Get("service"); s != Service {
		http.Error(w, fmt.Sprintf("unknown service %q", s), http.StatusBadRequest)
		return
	}
	may := []string{"pull"}
	subject := "anonymous"
	if user, password, ok := r.BasicAuth(); ok {
		if subtle.ConstantTimeCompare([]byte(user), []byte(ts.User)) != 1 || subtle.ConstantTimeCompare([]byte(password), []byte(ts.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+Service+`"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`, http.StatusUnauthorized)
			return
		}
		may, subject = []string{"pull", "push"}, user
	}
	var grants []access
	for _, scope := range q["scope"] {
		g, err := grant(scope, may)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		grants = append(grants, g)
	}
	tok, err := ts.token(subject, grants)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok,
		"expires_in": int(Lifetime / time.Second), "issued_at": ts.Now().UTC().Format(time.RFC3339)})
}

// grant is what a scope gets: repository:NAME:a,b → the asked actions
// the caller may have.
func grant(scope string, may []string) (access, error) {
	typ, rest, ok := strings.Cut(scope, ":")
	i := strings.LastIndex(rest, ":")
	if !ok || typ != "repository" || i < 1 {
		return access{}, fmt.Errorf("scope %q is not repository:NAME:ACTIONS", scope)
	}
	g := access{Type: typ, Name: rest[:i], Actions: []string{}}
	for _, a := range strings.Split(rest[i+1:], ",") {
		if slices.Contains(may, a) && !slices.Contains(g.Actions, a) {
			g.Actions = append(g.Actions, a)
		}
	}
	return g, nil
}

func (ts *TokenService) token(subject string, grants []access) (string, error) {
	now := ts.Now()
	id := make([]byte, 8)
	rand.Read(id)
	claims := jwt.Claims{Issuer: Issuer, Subject: subject, Audience: jwt.Audience{Service}, ID: hex.EncodeToString(id),
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(Lifetime))}
	return jwt.Signed(ts.signer).Claims(claims).Claims(map[string]any{"access": grants}).Serialize()
}
