package sign

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/fulcio/pkg/api"
	rclient "github.com/sigstore/rekor/pkg/client"
	"github.com/sigstore/rekor/pkg/generated/client"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/oauthflow"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/tuf"
	"golang.org/x/oauth2"

	"github.com/gantry-ci/gantry/ci/internal/identity"
)

// Keyless is where a keyless signer gets its certificate, and with what.
type Keyless struct {
	FulcioURL string
	// IDToken is the OIDC identity token Fulcio certifies (in GitHub
	// Actions, the workflow's, for audience "sigstore").
	IDToken string
	// RekorURL is the transparency log every signature and attestation is
	// entered in; empty: none (a private Sigstore without one).
	RekorURL string
}

// NewKeyless makes an ephemeral key pair and has Fulcio certify it for
// the token's identity, as `cosign sign` does without --key: the key
// never leaves this process, and the certificate (valid for minutes) goes
// with each signature.
func NewKeyless(ctx context.Context, k Keyless) (*Signer, error) {
	fulcioURL, err := url.Parse(k.FulcioURL)
	if err != nil {
		return nil, fmt.Errorf("Fulcio URL %q: %w", k.FulcioURL, err)
	}
	priv, err := cosign.GeneratePrivateKey()
	if err != nil {
		return nil, fmt.Errorf("making the ephemeral key: %w", err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	// The proof of possession Fulcio asks for: the token's subject, signed.
	tok, err := (&oauthflow.StaticTokenGetter{RawToken: k.IDToken}).GetIDToken(nil, oauth2.Config{})
	if err != nil {
		return nil, fmt.Errorf("reading the OIDC token: %w", err)
	}
	proof, err := sv.SignMessage(strings.NewReader(tok.Subject))
	if err != nil {
		return nil, err
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return nil, err
	}
	resp, err := api.NewClient(fulcioURL, api.WithUserAgent("gantry")).SigningCert(api.CertificateRequest{
		PublicKey: api.Key{Content: pub}, SignedEmailAddress: proof}, k.IDToken)
	if err != nil {
		return nil, fmt.Errorf("getting a signing certificate from %s: %w", k.FulcioURL, err)
	}
	s := &Signer{sv: sv, cert: resp.CertPEM, chain: resp.ChainPEM}
	if k.RekorURL != "" {
		c, err := rclient.GetRekorClient(k.RekorURL, rclient.WithUserAgent("gantry"))
		if err != nil {
			return nil, fmt.Errorf("Rekor URL %q: %w", k.RekorURL, err)
		}
		s.log = rekorLog{c}
	}
	return s, nil
}

// Certificate returns the signing certificate, parsed; nil for a key.
func (s *Signer) Certificate() (*x509.Certificate, error) {
	if s.cert == nil {
		return nil, nil
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(s.cert)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("reading the signing certificate: %v", err)
	}
	return certs[0], nil
}

// vouch is what vouches for a keyless signer besides the signature: its
// certificate chain and, with a transparency log, the entry enter made (its
// signed timestamp proves the certificate was valid when the signature
// was made, long after it expired). It returns them as options of the
// legacy signature and as the entry for the bundle; nothing for a key.
func (s *Signer) vouch(enter func(transparencyLog) (*models.LogEntryAnon, error)) ([]static.Option, *models.LogEntryAnon, error) {
	if s.cert == nil {
		return nil, nil, nil
	}
	opts := []static.Option{static.WithCertChain(s.cert, s.chain)}
	if s.log == nil {
		return opts, nil, nil
	}
	e, err := enter(s.log)
	if err != nil {
		return nil, nil, fmt.Errorf("entering it in the transparency log: %w", err)
	}
	if e.LogIndex != nil {
		s.mu.Lock()
		s.entries = append(s.entries, *e.LogIndex)
		s.mu.Unlock()
	}
	return append(opts, static.WithBundle(cbundle.EntryToBundle(e))), e, nil
}

// transparencyLog enters what a keyless signer signs, each with the
// certificate, and returns the entry with its inclusion proof.
type transparencyLog interface {
	enterSignature(ctx context.Context, raw, payload, cert []byte) (*models.LogEntryAnon, error)
	enterEnvelope(ctx context.Context, env, cert []byte) (*models.LogEntryAnon, error)
}

// rekorLog is a Rekor, entered as `cosign sign` and `cosign attest` do.
type rekorLog struct{ c *client.Rekor }

// enterSignature enters a signature of payload as a hashedrekord.
func (r rekorLog) enterSignature(ctx context.Context, raw, payload, cert []byte) (*models.LogEntryAnon, error) {
	sum := sha256.New()
	sum.Write(payload)
	return cosign.TLogUpload(ctx, r.c, raw, sum, cert)
}

// enterEnvelope enters a DSSE envelope.
func (r rekorLog) enterEnvelope(ctx context.Context, env, cert []byte) (*models.LogEntryAnon, error) {
	return cosign.TLogUploadDSSEEnvelope(ctx, r.c, env, cert)
}

// Policy is who must have signed keylessly, and which Sigstore to trust.
type Policy struct {
	// Roots holds the PEM certificates of the Fulcio to trust (root and
	// intermediates). Empty: Sigstore's public-good instance, whose roots,
	// CT log and Rekor keys come from its TUF repository, as cosign does.
	Roots []byte
	// Identity is who may have signed, as the certificate must say.
	Identity identity.Policy
	// Subject (exact) or SubjectRegexp narrows the certificate's subject
	// further, as cosign's --certificate-identity(-regexp) do.
	Subject, SubjectRegexp string
	// IgnoreSCT accepts certificates without a CT log's timestamp (a
	// Fulcio without a CT log); IgnoreTlog accepts signatures that are not
	// in a transparency log, which then verify only while the certificate
	// is valid.
	IgnoreSCT, IgnoreTlog bool
	// RekorKey is the PEM public key of a private Sigstore's Rekor (with
	// Roots); empty: the key in SIGSTORE_REKOR_PUBLIC_KEY, as cosign reads it.
	RekorKey []byte
}

// NewKeylessVerifier checks signatures against p: cosign's verification
// (`cosign verify --certificate-identity-regexp … --certificate-oidc-issuer
// …`), then p.Identity against each certificate's extensions.
func NewKeylessVerifier(ctx context.Context, p Policy) (*Verifier, error) {
	if err := p.Identity.Validate(); err != nil {
		return nil, err
	}
	if p.Subject != "" && p.SubjectRegexp != "" {
		return nil, errors.New("a keyless policy takes an exact subject or a subject pattern, not both")
	}
	// cosign rejects other subjects with a bare "no matching identity";
	// the repository's workflows get through to the policy, which says
	// which ref and trigger it refused.
	id := cosign.Identity{Issuer: p.Identity.Issuer, Subject: p.Subject, SubjectRegExp: p.SubjectRegexp}
	if id.Subject == "" && id.SubjectRegExp == "" {
		id.SubjectRegExp = p.Identity.SubjectRegexp()
	}
	co := cosign.CheckOpts{
		Identities: []cosign.Identity{id},
		IgnoreSCT:  p.IgnoreSCT,
		IgnoreTlog: p.IgnoreTlog,
	}
	pol := p.Identity
	if len(p.Roots) == 0 {
		tm, err := cosign.TrustedRoot()
		if err != nil {
			return nil, fmt.Errorf("reading Sigstore's trusted root: %w", err)
		}
		co.TrustedMaterial = tm
		return &Verifier{base: co, identity: &pol}, nil
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(p.Roots)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("reading the Fulcio roots: no PEM certificates (%v)", err)
	}
	co.RootCerts, co.IntermediateCerts = x509.NewCertPool(), x509.NewCertPool()
	for _, c := range certs {
		if isSelfSigned(c) {
			co.RootCerts.AddCert(c)
		} else {
			co.IntermediateCerts.AddCert(c)
		}
	}
	// A private Sigstore's log keys, from where cosign reads them
	// (SIGSTORE_REKOR_PUBLIC_KEY, SIGSTORE_CT_LOG_PUBLIC_KEY_FILE).
	switch {
	case p.IgnoreTlog:
	case len(p.RekorKey) > 0:
		keys := cosign.NewTrustedTransparencyLogPubKeys()
		if err := keys.AddTransparencyLogPubKey(p.RekorKey, tuf.Active); err != nil {
			return nil, fmt.Errorf("reading the Rekor public key: %w", err)
		}
		co.RekorPubKeys = &keys
	default:
		if co.RekorPubKeys, err = cosign.GetRekorPubs(ctx); err != nil {
			return nil, fmt.Errorf("reading the Rekor public keys: %w", err)
		}
	}
	if !p.IgnoreSCT {
		if co.CTLogPubKeys, err = cosign.GetCTLogPubs(ctx); err != nil {
			return nil, fmt.Errorf("reading the CT log public keys: %w", err)
		}
	}
	return &Verifier{base: co, identity: &pol}, nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return c.IsCA && c.CheckSignatureFrom(c) == nil
}
