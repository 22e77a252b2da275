// Package trustroot writes the trusted root of the bed's private Sigstore
// (trusted_root.json, the format sigstore-go reads, and with it cosign v3
// and `gh attestation verify`): the Fulcio CA that certifies signers and
// the Rekor whose entries prove when they signed. The bed has no CT log
// and no timestamp authority, so the root lists none.
package trustroot

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Sigstore is what the root trusts: Fulcio's chain (PEM, root last, as
// /api/v1/rootCert serves it) and Rekor's public key (PEM, as
// /api/v1/log/publicKey serves it), each with its URL, trusted from Since.
type Sigstore struct {
	FulcioURL   string
	FulcioChain []byte
	RekorURL    string
	RekorKey    []byte
	Since       time.Time
}

// JSON is the trusted root of s on one line, newline-terminated: gh reads
// a custom trusted root as JSON lines, one root per line.
func JSON(s Sigstore) ([]byte, error) {
	var cas []root.CertificateAuthority
	tlogs := map[string]*root.TransparencyLog{}
	if len(s.FulcioChain) > 0 {
		certs, err := cryptoutils.UnmarshalCertificatesFromPEM(s.FulcioChain)
		if err != nil || len(certs) == 0 {
			return nil, fmt.Errorf("reading Fulcio's chain: no PEM certificates (%v)", err)
		}
		cas = append(cas, &root.FulcioCertificateAuthority{
			Root: certs[len(certs)-1], Intermediates: certs[:len(certs)-1],
			ValidityPeriodStart: s.Since, URI: s.FulcioURL,
		})
	}
	if len(s.RekorKey) > 0 {
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(s.RekorKey)
		if err != nil {
			return nil, fmt.Errorf("reading Rekor's public key: %w", err)
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, err
		}
		// A Rekor's log ID is the SHA-256 of its key (RFC 6962's).
		id := sha256.Sum256(der)
		tlogs[fmt.Sprintf("%x", id)] = &root.TransparencyLog{
			BaseURL: s.RekorURL, ID: id[:], ValidityPeriodStart: s.Since,
			HashFunc: crypto.SHA256, PublicKey: pub, SignatureHashFunc: crypto.SHA256,
		}
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, map[string]*root.TransparencyLog{}, nil, tlogs)
	if err != nil {
		return nil, err
	}
	raw, err := tr.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var line bytes.Buffer
	if err := json.Compact(&line, raw); err != nil {
		return nil, err
	}
	return append(line.Bytes(), '\n'), nil
}
