// Package sign signs and attests published images with Sigstore's own code
// (cosign's libraries and sigstore-go), in two layouts: cosign v2's, the
// simple-signing payload in a `sha256-<hex>.sig` tag and DSSE-wrapped
// in-toto statements in a `sha256-<hex>.att` tag of the same repository
// (what cosign v2 and Gantry's verifier read), and Sigstore bundles
// attached as OCI referrers (bundle.go: what cosign v3 and `gh
// attestation verify` read). It runs inside gantry-publish, which gets the
// key and its password as Dagger secrets.
package sign

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/in-toto/in-toto-golang/in_toto"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/cosign/attestation"
	cremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/empty"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/gantry-ci/gantry/ci/internal/identity"
)

// Predicate types, as cosign's --type names them.
const (
	Provenance = "slsaprovenance1"
	CycloneDX  = "cyclonedx"
	Vuln       = "vuln"
)

// predicateURIs are the predicate types cosign writes for each --type
// name; the annotation cosign's verify-attestation filters on.
var predicateURIs = map[string]string{
	Provenance: slsa1.PredicateSLSAProvenance,
	CycloneDX:  in_toto.PredicateCycloneDX,
	Vuln:       attestation.CosignVulnProvenanceV01,
}

// Attestation is one predicate to attest, by cosign --type name.
type Attestation struct {
	Type      string
	Predicate []byte
}

// Signer signs with a cosign key pair or, keyless, with an ephemeral key
// and its Fulcio certificate.
type Signer struct {
	sv          signature.SignerVerifier
	cert, chain []byte          // PEM; keyless only
	log         transparencyLog // keyless with a transparency log

	attachMu sync.Mutex // one referrer written at a time

	mu        sync.Mutex
	wrote     map[string]v1.Hash // tag -> the manifest this signer wrote there last
	referrers []Referrer         // the bundles' referrer manifests
	entries   []int64            // the transparency log's indexes of what it entered
}

// LogIndexes are the transparency log's indexes of the entries the signer
// made (keyless with a log), in order.
func (s *Signer) LogIndexes() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(slices.Values(s.entries))
}

// written records that the signer wrote the manifest of sigs under tag.
func (s *Signer) written(tag name.Tag, sigs oci.Signatures) error {
	h, err := sigs.Digest()
	if err != nil {
		return err
	}
	s.record(tag, h)
	return nil
}

// record records that the signer wrote the manifest h under tag.
func (s *Signer) record(tag name.Tag, h v1.Hash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wrote == nil {
		s.wrote = map[string]v1.Hash{}
	}
	s.wrote[tag.String()] = h
}

// Written is what a signer wrote, for Snapshot.Restore to undo.
type Written struct {
	// Tags are the manifests under each signature, attestation and
	// referrers tag, as the signer wrote them.
	Tags map[string]v1.Hash
	// Referrers are the bundles' referrer manifests.
	Referrers []Referrer
}

// Wrote is what the signer wrote (Snapshot.Restore undoes only that).
func (s *Signer) Wrote() Written {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Written{Tags: maps.Clone(s.wrote), Referrers: slices.Clone(s.referrers)}
}

// LoadKey loads a signing key: a cosign-format private key (what `cosign
// generate-key-pair` writes), decrypted with password, or a PKCS #8
// "PRIVATE KEY", which needs none: the key `go run ./ci` already opened,
// passed on so that its scrypt (about 0.3 s of CPU) runs once per run,
// not twice.
func LoadKey(pemBytes, password []byte) (*Signer, error) {
	var sv signature.SignerVerifier
	var err error
	if block, _ := pem.Decode(pemBytes); block != nil && block.Type == "PRIVATE KEY" {
		sv, err = plainKey(block.Bytes)
	} else {
		sv, err = cosign.LoadPrivateKey(pemBytes, password, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("loading the signing key: %w", err)
	}
	return &Signer{sv: sv}, nil
}

// plainKey loads a PKCS #8 key as cosign.LoadPrivateKey does once it has
// decrypted one, with cosign's default options (ED25519ph for Ed25519).
func plainKey(der []byte) (signature.SignerVerifier, error) {
	pk, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	return signature.LoadDefaultSignerVerifier(pk, *cosign.GetDefaultLoadOptions(nil)...)
}

// PublicKey returns the public key, PEM-encoded as `cosign verify --key`
// reads it.
func (s *Signer) PublicKey() ([]byte, error) {
	pub, err := s.sv.PublicKey()
	if err != nil {
		return nil, err
	}
	return cryptoutils.MarshalPublicKeyToPEM(pub)
}

// Sign signs each digest and writes its signature. A digest already signed
// by this key keeps its one signature.
func (s *Signer) Sign(ctx context.Context, digests []name.Digest, ropts []remote.Option) error {
	for _, d := range digests {
		payload, err := (&sigpayload.Cosign{Image: d}).MarshalJSON()
		if err != nil {
			return fmt.Errorf("signing %s: %w", d, err)
		}
		raw, err := s.sv.SignMessage(bytes.NewReader(payload), sigopts.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("signing %s: %w", d, err)
		}
		opts, _, err := s.vouch(func(l transparencyLog) (*models.LogEntryAnon, error) {
			return l.enterSignature(ctx, raw, payload, s.cert)
		})
		if err != nil {
			return fmt.Errorf("signing %s: %w", d, err)
		}
		sig, err := static.NewSignature(payload, base64.StdEncoding.EncodeToString(raw), opts...)
		if err != nil {
			return fmt.Errorf("signing %s: %w", d, err)
		}
		se := ociremote.SignedUnknown(d, ociremote.WithRemoteOptions(ropts...))
		se, err = mutate.AttachSignatureToEntity(se, sig, mutate.WithDupeDetector(cremote.NewDupeDetector(s.sv)))
		if err != nil {
			return fmt.Errorf("attaching the signature of %s: %w", d, err)
		}
		sigs, err := se.Signatures()
		if err != nil {
			return err
		}
		if err := s.write(d, sigs, ociremote.SignatureTag, ropts); err != nil {
			return fmt.Errorf("writing the signature of %s: %w", d, err)
		}
		if err := s.signBundle(ctx, d, ropts); err != nil {
			return fmt.Errorf("signing %s: %w", d, err)
		}
	}
	return nil
}

// signBundle signs d as cosign v3 does: a statement that d is signed, in a
// DSSE envelope, in a bundle attached to d.
func (s *Signer) signBundle(ctx context.Context, d name.Digest, ropts []remote.Option) error {
	st, err := signStatement(d)
	if err != nil {
		return err
	}
	env, err := dsse.WrapSigner(s.sv, types.IntotoPayloadType).SignMessage(bytes.NewReader(st), sigopts.WithContext(ctx))
	if err != nil {
		return err
	}
	_, entry, err := s.vouch(func(l transparencyLog) (*models.LogEntryAnon, error) {
		return l.enterEnvelope(ctx, env, s.cert)
	})
	if err != nil {
		return err
	}
	b, err := s.newBundle(env, entry)
	if err != nil {
		return err
	}
	return s.attach(ctx, d, b, SignPredicate, ropts)
}

// write writes sigs under d's tag (tagOf), as cosign's WriteSignatures and
// WriteAttestations do, and records the manifest it wrote: the very object
// written, since building it again need not give the same bytes.
func (s *Signer) write(d name.Digest, sigs oci.Signatures, tagOf func(name.Reference, ...ociremote.Option) (name.Tag, error), ropts []remote.Option) error {
	tag, err := tagOf(d)
	if err != nil {
		return err
	}
	if err := remote.Write(tag, sigs, ropts...); err != nil {
		return err
	}
	return s.written(tag, sigs)
}

// Attest wraps each predicate in an in-toto statement about d, signs it
// as a DSSE envelope and writes them all, next to any attestations d has.
// It returns the layer digest of each, for VerifyWritten.
func (s *Signer) Attest(ctx context.Context, d name.Digest, atts []Attestation, ropts []remote.Option) ([]v1.Hash, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, err
	}
	var written []v1.Hash
	wrapped := dsse.WrapSigner(s.sv, types.IntotoPayloadType)
	se := ociremote.SignedUnknown(d, ociremote.WithRemoteOptions(ropts...))
	for _, a := range atts {
		uri, ok := predicateURIs[a.Type]
		if !ok {
			return nil, fmt.Errorf("attesting %s: unknown predicate type %q", d, a.Type)
		}
		st, err := attestation.GenerateStatement(attestation.GenerateOpts{
			Predicate: bytes.NewReader(a.Predicate), Type: a.Type, Digest: h.Hex, Repo: d.Repository.String(),
		})
		if err != nil {
			return nil, fmt.Errorf("attesting %s (%s): %w", d, a.Type, err)
		}
		payload, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		env, err := wrapped.SignMessage(bytes.NewReader(payload), sigopts.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("signing the %s attestation of %s: %w", a.Type, d, err)
		}
		opts, entry, err := s.vouch(func(l transparencyLog) (*models.LogEntryAnon, error) {
			return l.enterEnvelope(ctx, env, s.cert)
		})
		if err != nil {
			return nil, fmt.Errorf("attesting %s (%s): %w", d, a.Type, err)
		}
		b, err := s.newBundle(env, entry)
		if err != nil {
			return nil, fmt.Errorf("attesting %s (%s): %w", d, a.Type, err)
		}
		if err := s.attach(ctx, d, b, uri, ropts); err != nil {
			return nil, fmt.Errorf("attaching the %s bundle of %s: %w", a.Type, d, err)
		}
		att, err := static.NewAttestation(env, append(opts, static.WithLayerMediaType(types.DssePayloadType),
			static.WithAnnotations(map[string]string{"predicateType": uri}))...)
		if err != nil {
			return nil, err
		}
		if se, err = mutate.AttachAttestationToEntity(se, att, mutate.WithDupeDetector(cremote.NewDupeDetector(s.sv))); err != nil {
			return nil, fmt.Errorf("attaching the %s attestation of %s: %w", a.Type, d, err)
		}
		dg, err := att.Digest()
		if err != nil {
			return nil, err
		}
		written = append(written, dg)
	}
	sigs, err := se.Attestations()
	if err != nil {
		return nil, err
	}
	if err := s.write(d, sigs, ociremote.AttestationTag, ropts); err != nil {
		return nil, fmt.Errorf("writing the attestations of %s: %w", d, err)
	}
	return written, nil
}

// Verifier checks signatures and attestations against one public key, as
// `cosign verify --key` and `cosign verify-attestation --key` do offline,
// or against a keyless policy (NewKeylessVerifier).
type Verifier struct {
	base cosign.CheckOpts // all but the registry and claim checks
	// identity is who a keyless signature's certificate must name; nil
	// for a key.
	identity *identity.Policy
}

// NewVerifier reads a PEM public key.
func NewVerifier(pemBytes []byte) (*Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("reading the public key: %w", err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("loading the public key: %w", err)
	}
	return keyVerifier(v), nil
}

// keyVerifier checks against a key. No transparency log: key-based
// signatures made offline have no Rekor entry, as with `cosign verify
// --insecure-ignore-tlog`.
func keyVerifier(v signature.Verifier) *Verifier {
	return &Verifier{base: cosign.CheckOpts{SigVerifier: v, IgnoreTlog: true}}
}

// Verifier returns the verifier of the signer's own key, which reads back
// what it signed. (For a keyless signer that is the ephemeral key: the
// read-back checks what was stored, not who Fulcio certified.)
func (s *Signer) Verifier() *Verifier { return keyVerifier(s.sv) }

// Signer names who the verifier accepts, for messages: "the key", or the
// keyless identity and issuer.
func (v *Verifier) Signer() string {
	if v.identity == nil {
		return "the key"
	}
	s := v.identity.Describe()
	if id := v.base.Identities[0]; id.Subject != "" {
		s += ", as " + id.Subject
	}
	return s + " (issuer " + v.identity.Issuer + ")"
}

// vouched keeps the verified signatures whose certificate the policy
// accepts, each with what its certificate says (all of them, with nil, for
// a key). None kept is an error saying why the first was refused.
func (v *Verifier) vouched(sigs []oci.Signature) ([]oci.Signature, []*identity.Cert, error) {
	if v.identity == nil {
		return sigs, make([]*identity.Cert, len(sigs)), nil
	}
	var keep []oci.Signature
	var certs []*identity.Cert
	var first error
	for _, s := range sigs {
		c, err := s.Cert()
		if err == nil && c == nil {
			err = errors.New("a keyless signature without a certificate")
		}
		var id identity.Cert
		if err == nil {
			id, err = identity.FromCertificate(c)
		}
		if err == nil {
			err = v.identity.Check(id)
		}
		if err != nil {
			first = cmp.Or(first, err)
			continue
		}
		keep, certs = append(keep, s), append(certs, &id)
	}
	if len(keep) == 0 {
		return nil, nil, cmp.Or(first, errors.New("no signatures"))
	}
	return keep, certs, nil
}

func (v *Verifier) opts(ropts []remote.Option, claims func(oci.Signature, v1.Hash, map[string]any) error) *cosign.CheckOpts {
	co := v.base
	co.RegistryClientOpts = []ociremote.Option{ociremote.WithRemoteOptions(ropts...)}
	co.ClaimVerifier = claims
	return &co
}

// VerifySignature checks that d has a signature by this key.
func (v *Verifier) VerifySignature(ctx context.Context, d name.Digest, ropts []remote.Option) error {
	sigs, _, err := cosign.VerifyImageSignatures(ctx, d, v.opts(ropts, cosign.SimpleClaimVerifier))
	if err == nil {
		_, _, err = v.vouched(sigs)
	}
	if err != nil {
		return fmt.Errorf("verifying the signature of %s: %w", d, err)
	}
	return nil
}

// Statement is a verified in-toto statement: its predicate type and the
// raw predicate.
type Statement struct {
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
	// Signer is what the signing certificate vouches for; nil for a key.
	// A claim in the predicate that it does not vouch for is not trusted.
	Signer *identity.Cert `json:"-"`
}

// VerifyAttestations returns every attestation of d signed by this key,
// each a statement about d.
func (v *Verifier) VerifyAttestations(ctx context.Context, d name.Digest, ropts []remote.Option) ([]Statement, error) {
	atts, _, err := cosign.VerifyImageAttestations(ctx, d, v.opts(ropts, cosign.IntotoSubjectClaimVerifier))
	var certs []*identity.Cert
	if err == nil {
		atts, certs, err = v.vouched(atts)
	}
	if err != nil {
		return nil, fmt.Errorf("verifying the attestations of %s: %w", d, err)
	}
	return statements(d, atts, certs)
}

// VerifyWritten is VerifyAttestations of only the attestation layers
// Attest wrote, as the registry now lists and serves them under d's
// attestation tag. A digest gains attestations with every signed run and
// release, and reading back all of them would make each publish slower
// than the last.
func (v *Verifier) VerifyWritten(ctx context.Context, d name.Digest, layers []v1.Hash, ropts []remote.Option) ([]Statement, error) {
	fail := func(err error) ([]Statement, error) {
		return nil, fmt.Errorf("verifying the attestations of %s: %w", d, err)
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, err
	}
	tag, err := ociremote.AttestationTag(d)
	if err != nil {
		return nil, err
	}
	stored, err := ociremote.Signatures(tag, ociremote.WithRemoteOptions(ropts...))
	if err != nil {
		return fail(err)
	}
	all, err := stored.Get()
	if err != nil {
		return fail(err)
	}
	var mine []oci.Signature
	found := map[v1.Hash]bool{}
	for _, a := range all {
		if dg, err := a.Digest(); err == nil && slices.Contains(layers, dg) {
			mine, found[dg] = append(mine, a), true
		}
	}
	if len(found) != len(layers) {
		return fail(fmt.Errorf("%s lists %d of the %d attestations written", tag, len(found), len(layers)))
	}
	sigs, err := mutate.AppendSignatures(empty.Signatures(), false, mine...)
	if err != nil {
		return fail(err)
	}
	atts, _, err := cosign.VerifyImageAttestation(ctx, sigs, h, v.opts(ropts, cosign.IntotoSubjectClaimVerifier))
	if err != nil {
		return fail(err)
	}
	if len(atts) != len(mine) {
		return fail(fmt.Errorf("%d of the %d attestations written verify", len(atts), len(mine)))
	}
	return statements(d, atts, make([]*identity.Cert, len(atts)))
}

// statements reads the in-toto statements out of verified attestations,
// each signed by what certs[i] says.
func statements(d name.Digest, atts []oci.Signature, certs []*identity.Cert) ([]Statement, error) {
	var out []Statement
	for i, a := range atts {
		env, err := a.Payload()
		if err != nil {
			return nil, err
		}
		var e ssldsse.Envelope
		if err := json.Unmarshal(env, &e); err != nil {
			return nil, fmt.Errorf("reading an attestation of %s: %w", d, err)
		}
		body, err := e.DecodeB64Payload()
		if err != nil {
			return nil, fmt.Errorf("reading an attestation of %s: %w", d, err)
		}
		var st Statement
		if err := json.Unmarshal(body, &st); err != nil {
			return nil, fmt.Errorf("reading an attestation of %s: %w", d, err)
		}
		st.Signer = certs[i]
		out = append(out, st)
	}
	if len(out) == 0 {
		return nil, errors.New("no attestations")
	}
	return out, nil
}

// PredicateURI is the in-toto predicate type of a cosign --type name.
func PredicateURI(typ string) string { return predicateURIs[typ] }
