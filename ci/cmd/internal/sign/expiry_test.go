package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	jsoncanonicalizer "github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/fulcio/pkg/certificate"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	rekorutil "github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/gantry-ci/gantry/ci/internal/identity"
)

// pastLog is a transparency log whose clock stands where the test puts
// it: it makes each entry as Rekor's server does (the proposed entry,
// validated and canonicalized by Rekor's own types) and signs its
// timestamp, with a time in the past. The bed's real Rekor stamps the
// present, and its clock can't be set back.
type pastLog struct {
	key *ecdsa.PrivateKey
	at  time.Time
}

func newPastLog(t *testing.T) *pastLog {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &pastLog{key: key}
}

// publicPEM is the log's key, as a verifier is given it.
func (l *pastLog) publicPEM(t *testing.T) []byte {
	t.Helper()
	pub, err := cryptoutils.MarshalPublicKeyToPEM(l.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func (l *pastLog) enterSignature(ctx context.Context, raw, payload, cert []byte) (*models.LogEntryAnon, error) {
	sum := sha256.Sum256(payload)
	return l.enter(ctx, "hashedrekord", types.ArtifactProperties{PKIFormat: "x509", SignatureBytes: raw,
		ArtifactHash: "sha256:" + hex.EncodeToString(sum[:]), PublicKeyBytes: [][]byte{cert}})
}

func (l *pastLog) enterEnvelope(ctx context.Context, env, cert []byte) (*models.LogEntryAnon, error) {
	return l.enter(ctx, "dsse", types.ArtifactProperties{ArtifactBytes: env, PublicKeyBytes: [][]byte{cert}})
}

// enter makes the entry as the first and only one of a log: its signed
// timestamp, and its inclusion proof in a tree of one leaf (the root is
// the leaf's hash) with a checkpoint the log signs.
func (l *pastLog) enter(ctx context.Context, kind string, props types.ArtifactProperties) (*models.LogEntryAnon, error) {
	pe, err := types.NewProposedEntry(ctx, kind, "0.0.1", props)
	if err != nil {
		return nil, err
	}
	body, err := canonicalEntry(ctx, pe)
	if err != nil {
		return nil, err
	}
	id, err := cosign.GetTransparencyLogID(l.key.Public())
	if err != nil {
		return nil, err
	}
	p := cbundle.RekorPayload{Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: l.at.Unix(), LogIndex: 0, LogID: id}
	data, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	canon, err := jsoncanonicalizer.Transform(data)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(canon)
	set, err := ecdsa.SignASN1(rand.Reader, l.key, h[:])
	if err != nil {
		return nil, err
	}
	root := sha256.Sum256(append([]byte{0}, body...)) // RFC 6962's leaf hash
	signer, err := signature.LoadECDSASigner(l.key, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	checkpoint, err := rekorutil.CreateAndSignCheckpoint(ctx, "pastlog", 1, 1, root[:], signer)
	if err != nil {
		return nil, err
	}
	index, size, cp, rootHex := int64(0), int64(1), string(checkpoint), hex.EncodeToString(root[:])
	return &models.LogEntryAnon{
		Body: p.Body, IntegratedTime: &p.IntegratedTime, LogID: &p.LogID, LogIndex: &index,
		Verification: &models.LogEntryAnonVerification{
			SignedEntryTimestamp: set,
			InclusionProof: &models.InclusionProof{Checkpoint: &cp, Hashes: []string{}, LogIndex: &index,
				RootHash: &rootHex, TreeSize: &size},
		},
	}, nil
}

// canonicalEntry is the body Rekor stores for a proposed entry.
func canonicalEntry(ctx context.Context, pe models.ProposedEntry) ([]byte, error) {
	ei, err := types.CreateVersionedEntry(pe)
	if err != nil {
		return nil, err
	}
	return types.CanonicalizeEntry(ctx, ei)
}

// testCA is a Fulcio-like CA: a root that certifies ephemeral keys for an
// OIDC identity.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	pem  []byte
}

func newTestCA(t *testing.T, from, until time.Time) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: from, NotAfter: until,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{key: key, cert: cert, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// mainPush is what Fulcio certifies for a push to main of a/b's ci.yml.
func mainPush() identity.Cert {
	return identity.Cert{Subject: "https://github.com/a/b/.github/workflows/ci.yml@refs/heads/main", Issuer: identity.GitHubIssuer,
		Repository: "https://github.com/a/b", RepositoryID: "7", Trigger: "push", Ref: "refs/heads/main", SHA: strings.Repeat("a", 40)}
}

// signer is a keyless signer as NewKeyless makes one: an ephemeral key,
// certified for id from one time until another, with Fulcio's own
// extensions, entering what it signs in log.
func (ca *testCA) signer(t *testing.T, id identity.Cert, from, until time.Time, log transparencyLog) *Signer {
	t.Helper()
	key, err := cosign.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	exts, err := certificate.Extensions{Issuer: id.Issuer, SourceRepositoryURI: id.Repository, SourceRepositoryIdentifier: id.RepositoryID,
		BuildTrigger: id.Trigger, SourceRepositoryRef: id.Ref, SourceRepositoryDigest: id.SHA}.Render()
	if err != nil {
		t.Fatal(err)
	}
	uri, err := url.Parse(id.Subject)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: from, NotAfter: until, URIs: []*url.URL{uri},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, ExtraExtensions: exts}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadDefaultSignerVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{sv: sv, cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), chain: ca.pem, log: log}
}

// A keyless signature outlives its certificate. Fulcio certifies a key
// for ten minutes; a release is promoted, or a deployer runs `verify`,
// days later. The verifier (the one promotion and `verify` use) must then
// check the certificate against the time the log entered the signature,
// not against now, and must not take an expired certificate without one.
func TestKeylessSignatureOutlivesItsCertificate(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	issued := now.Add(-48 * time.Hour)
	expired := issued.Add(10 * time.Minute)
	ca := newTestCA(t, issued.Add(-time.Hour), now.Add(time.Hour))
	log := newPastLog(t)
	policy := Policy{Roots: ca.pem, Identity: identity.Release("a/b", "main"), IgnoreSCT: true, RekorKey: log.publicPEM(t)}
	otherLog := newPastLog(t).publicPEM(t)
	attestations := []Attestation{{Type: Provenance, Predicate: []byte(`{"buildDefinition":{"buildType":"https://example.com/t"},"runDetails":{"builder":{"id":"https://example.com/b"}}}`)}}

	tests := []struct {
		name     string
		logged   time.Time // when the log says it entered the signature
		verifier func(Policy) Policy
		err      string // part of both errors; "" verifies
	}{
		{name: "entered while the certificate was valid", logged: issued.Add(time.Minute)},
		{name: "entered after the certificate expired", logged: expired.Add(time.Minute), err: "certificate expired before signatures were entered in log"},
		{name: "entered before the certificate was issued", logged: issued.Add(-time.Minute), err: "certificate was issued after signatures were entered in log"},
		{name: "the verifier trusts another log", logged: issued.Add(time.Minute),
			verifier: func(p Policy) Policy { p.RekorKey = otherLog; return p }, err: "rekor log public key not found"},
		{name: "no log: the certificate alone, expired", logged: issued.Add(time.Minute),
			verifier: func(p Policy) Policy { p.RekorKey, p.IgnoreTlog = nil, true; return p }, err: "expected a signed timestamp to verify an expired certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log.at = tt.logged
			s := ca.signer(t, mainPush(), issued, expired, log)
			d := pushRandom(t)
			if err := s.Sign(ctx, []name.Digest{d}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Attest(ctx, d, attestations, nil); err != nil {
				t.Fatal(err)
			}
			p := policy
			if tt.verifier != nil {
				p = tt.verifier(p)
			}
			v, err := NewKeylessVerifier(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			sigErr := v.VerifySignature(ctx, d, nil)
			_, attErr := v.VerifyAttestations(ctx, d, nil)
			for what, err := range map[string]error{"signature": sigErr, "attestations": attErr} {
				switch {
				case tt.err == "" && err != nil:
					t.Errorf("verifying the %s: %v", what, err)
				case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
					t.Errorf("verifying the %s: err = %v, want it to say %q", what, err, tt.err)
				}
			}
		})
	}
}
