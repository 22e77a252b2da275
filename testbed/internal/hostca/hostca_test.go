package hostca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func cert(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestExtra(t *testing.T) {
	a, b, proxy := cert(t, "a"), cert(t, "b"), cert(t, "egress-proxy")
	base := append(append([]byte{}, a...), b...)
	host := append(append(append([]byte{}, b...), proxy...), a...)

	extra := Extra(host, base)
	if len(extra) != 1 || string(extra[0]) != string(proxy) {
		t.Fatalf("Extra = %d certs, want the proxy's only", len(extra))
	}
	if got := Extra(base, base); len(got) != 0 {
		t.Errorf("identical bundles: %d extra", len(got))
	}
	if got := Extra(append(host, proxy...), base); len(got) != 1 {
		t.Errorf("a duplicate counted twice: %d", len(got))
	}

	joined := Append(base, extra)
	if !strings.HasPrefix(string(joined), string(base)) || !strings.HasSuffix(string(joined), string(proxy)) {
		t.Error("Append does not put the extra certificates after the base")
	}
	if n := len(certs(joined)); n != 3 {
		t.Errorf("joined bundle has %d certificates, want 3", n)
	}
}
