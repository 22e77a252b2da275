package sign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	intoto "github.com/in-toto/attestation/go/v1"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/tle"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Every signature and attestation is also written as a Sigstore bundle
// (v0.3: one DSSE envelope and what vouches for its signer) attached to the
// signed digest as an OCI 1.1 referrer. That is what cosign v3 writes and
// reads by default, what `gh attestation verify --bundle-from-oci` reads,
// and what actions/attest-build-provenance pushes. The registry's
// referrers API holds the list where it has one; elsewhere (GHCR) the
// referrers tag `sha256-<hex>`, an index go-containerregistry keeps.

// BundleMediaType is the media type of the bundles Gantry writes, and the
// artifact type of their referrer manifests.
var BundleMediaType = func() string {
	mt, err := sgbundle.MediaTypeString("0.3")
	if err != nil {
		panic(err)
	}
	return mt
}()

const (
	// SignPredicate is the predicate type of the statement cosign v3 signs
	// for `cosign sign` of an image (cosign's types.CosignSignPredicateType).
	SignPredicate = "https://sigstore.dev/cosign/sign/v1"

	// The referrer manifest's annotations, as cosign v3 and actions/attest
	// write them.
	annotationContent       = "dev.sigstore.bundle.content"
	annotationPredicateType = "dev.sigstore.bundle.predicateType"
	annotationCreated       = "org.opencontainers.image.created"

	emptyMediaType types.MediaType = "application/vnd.oci.empty.v1+json"
)

// signStatement is the in-toto statement that a digest is signed, as
// cosign v3 signs it: the digest as subject (named by its repository, as
// cosign's attestations name theirs), an empty predicate.
func signStatement(d name.Digest) ([]byte, error) {
	algo, hex, ok := strings.Cut(d.DigestStr(), ":")
	if !ok {
		return nil, fmt.Errorf("digest %q has no algorithm", d.DigestStr())
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{{Name: d.Repository.String(), Digest: map[string]string{algo: hex}}},
		PredicateType: SignPredicate,
		Predicate:     &structpb.Struct{},
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return protojson.Marshal(st)
}

// newBundle is the bundle of env (a signed DSSE envelope, as
// dsse.WrapSigner writes it) with what vouches for the signer: keyless,
// the certificate and the envelope's transparency-log entry (with its
// inclusion proof, which bundles from v0.2 on must carry); with a key, the
// key's hint (verifiers are given the key itself).
func (s *Signer) newBundle(env []byte, entry *models.LogEntryAnon) (*sgbundle.Bundle, error) {
	var e ssldsse.Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		return nil, fmt.Errorf("reading the envelope: %w", err)
	}
	payload, err := e.DecodeB64Payload()
	if err != nil {
		return nil, fmt.Errorf("reading the envelope: %w", err)
	}
	pe := &protodsse.Envelope{Payload: payload, PayloadType: e.PayloadType}
	for _, sig := range e.Signatures {
		raw, err := base64.StdEncoding.DecodeString(sig.Sig)
		if err != nil {
			return nil, fmt.Errorf("reading the envelope's signature: %w", err)
		}
		pe.Signatures = append(pe.Signatures, &protodsse.Signature{Sig: raw, Keyid: sig.KeyID})
	}
	vm := &protobundle.VerificationMaterial{}
	if s.cert == nil {
		pub, err := s.sv.PublicKey()
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(der)
		vm.Content = &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: base64.StdEncoding.EncodeToString(sum[:])}}
	} else {
		leaf, err := s.Certificate()
		if err != nil {
			return nil, err
		}
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: leaf.Raw}}
	}
	if entry != nil {
		if entry.Verification == nil || entry.Verification.InclusionProof == nil {
			return nil, errors.New("the transparency log's entry has no inclusion proof, which a bundle must carry")
		}
		t, err := tle.GenerateTransparencyLogEntry(*entry)
		if err != nil {
			return nil, fmt.Errorf("reading the transparency-log entry: %w", err)
		}
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{t}
	}
	b, err := sgbundle.NewBundle(&protobundle.Bundle{MediaType: BundleMediaType, VerificationMaterial: vm,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: pe}})
	if err != nil {
		return nil, fmt.Errorf("making the Sigstore bundle: %w", err)
	}
	return b, nil
}

// rawManifest is a manifest to put as it is.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// Referrer is a referrer manifest a signer wrote: its digest and the
// digest it refers to.
type Referrer struct {
	Subject  name.Digest
	Manifest v1.Hash
}

// attach writes b as a referrer of d: a manifest of artifact type
// BundleMediaType, the bundle its one layer, d its subject, annotated
// with the content and predicate type (what `cosign verify-attestation
// --type` and admission policies filter on). It reads the listing back:
// the referrer must be listed. (With which artifact type is the
// registry's to say where it has the referrers API.)
func (s *Signer) attach(ctx context.Context, d name.Digest, b *sgbundle.Bundle, predicateType string, ropts []remote.Option) error {
	raw, err := b.MarshalJSON()
	if err != nil {
		return err
	}
	subject, err := remote.Head(d, append(ropts, remote.WithContext(ctx))...)
	if err != nil {
		return fmt.Errorf("reading %s: %w", d, err)
	}
	config := static.NewLayer([]byte("{}"), emptyMediaType)
	layer := static.NewLayer(raw, types.MediaType(BundleMediaType))
	var descs []v1.Descriptor
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(d.Repository, l, append(ropts, remote.WithContext(ctx))...); err != nil {
			return fmt.Errorf("uploading the bundle: %w", err)
		}
		desc, err := descriptorOf(l)
		if err != nil {
			return err
		}
		descs = append(descs, desc)
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  BundleMediaType,
		Config:        descs[0],
		Layers:        descs[1:],
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{
			annotationContent:       "dsse-envelope",
			annotationPredicateType: predicateType,
			annotationCreated:       time.Now().UTC().Format(time.RFC3339),
		},
	}
	mraw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	h, _, err := v1.SHA256(bytes.NewReader(mraw))
	if err != nil {
		return err
	}
	// One referrer at a time: without the registry's API, the listing
	// is an index that each write reads, extends and writes back.
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	if err := remote.Put(d.Context().Digest(h.String()), rawManifest{mraw, types.OCIManifestSchema1}, append(ropts, remote.WithContext(ctx))...); err != nil {
		return fmt.Errorf("writing the bundle's manifest: %w", err)
	}
	s.mu.Lock()
	s.referrers = append(s.referrers, Referrer{Subject: d, Manifest: h})
	s.mu.Unlock()
	// Without the API the referrers tag now lists it: that tag is this
	// signer's write, to put back if the publish fails.
	tag := ReferrersTag(d)
	if idx, err := remote.Index(tag, append(ropts, remote.WithContext(ctx))...); err == nil {
		if im, err := idx.IndexManifest(); err == nil && slices.ContainsFunc(im.Manifests, func(m v1.Descriptor) bool { return m.Digest == h }) {
			th, err := idx.Digest()
			if err != nil {
				return err
			}
			s.record(tag, th)
		}
	}
	listed, err := Referrers(ctx, d, ropts)
	if err != nil {
		return fmt.Errorf("reading back the referrers of %s: %w", d, err)
	}
	if !slices.ContainsFunc(listed, func(m v1.Descriptor) bool { return m.Digest == h }) {
		return fmt.Errorf("reading back the referrers of %s: the bundle %s is not listed", d, h)
	}
	return nil
}

// Referrers lists what refers to d: the registry's referrers API, or the
// referrers tag where it has none.
func Referrers(ctx context.Context, d name.Digest, ropts []remote.Option) ([]v1.Descriptor, error) {
	idx, err := remote.Referrers(d, append(ropts, remote.WithContext(ctx))...)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	return im.Manifests, nil
}

// ReferrersTag is the tag that lists d's referrers on a registry without
// the referrers API (the OCI distribution spec's referrers tag schema).
func ReferrersTag(d name.Digest) name.Tag {
	return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1))
}

func descriptorOf(l v1.Layer) (v1.Descriptor, error) {
	mt, err := l.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	h, err := l.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: h, Size: size}, nil
}
