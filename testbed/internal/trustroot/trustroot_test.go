package trustroot

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// The root sigstore-go reads back trusts that CA and that log (under the
// ID Rekor gives its entries), from the time given, on a single line.
func TestJSON(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sigstore", Organization: []string{"sigstore"}},
		NotBefore: since, NotAfter: since.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	rekorKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rekorPEM, err := cryptoutils.MarshalPublicKeyToPEM(rekorKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	out, err := JSON(Sigstore{FulcioURL: "http://fulcio", FulcioChain: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		RekorURL: "http://rekor", RekorKey: rekorPEM, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(out, []byte("\n")) != 1 || out[len(out)-1] != '\n' {
		t.Errorf("not one newline-terminated line:\n%s", out)
	}
	tr, err := root.NewTrustedRootFromJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	cas := tr.FulcioCertificateAuthorities()
	if len(cas) != 1 || !cas[0].(*root.FulcioCertificateAuthority).Root.Equal(mustParse(t, der)) {
		t.Errorf("certificate authorities = %v, want the one CA", cas)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(rekorKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(pubDER)
	logs := tr.RekorLogs()
	l, ok := logs[hex.EncodeToString(id[:])]
	if len(logs) != 1 || !ok || !l.ValidityPeriodStart.Equal(since) || l.BaseURL != "http://rekor" {
		t.Errorf("Rekor logs = %v, want the one log under its key's SHA-256, from %s", logs, since)
	}
	if len(tr.CTLogs()) != 0 || len(tr.TimestampingAuthorities()) != 0 {
		t.Error("the root lists a CT log or a timestamp authority the bed does not have")
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
