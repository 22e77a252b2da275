package signing

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/cosign/v2/pkg/cosign"
)

func TestDecide(t *testing.T) {
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return []byte("s3cret"), nil })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "cosign.key")
	pubFile := filepath.Join(dir, "cosign.pub")
	junk := filepath.Join(dir, "junk")
	os.WriteFile(keyFile, keys.PrivateBytes, 0o600)
	os.WriteFile(pubFile, keys.PublicBytes, 0o644)
	os.WriteFile(junk, []byte("not a key"), 0o600)
	env := map[string]string{"SIGN_KEY": string(keys.PrivateBytes)}
	getenv := func(k string) string { return env[k] }

	tests := []struct {
		name     string
		in       Input
		signed   bool
		unsigned string // part of Plan.Unsigned
		err      string // part of the error
	}{
		{name: "key file and password", in: Input{Mode: Key, KeyRef: keyFile, Password: "s3cret", HasPassword: true}, signed: true},
		{name: "auto with a key signs", in: Input{Mode: Auto, KeyRef: keyFile, Password: "s3cret", HasPassword: true}, signed: true},
		{name: "key from the environment", in: Input{Mode: Key, KeyRef: "env://SIGN_KEY", Password: "s3cret", HasPassword: true}, signed: true},
		{name: "wrong password", in: Input{Mode: Key, KeyRef: keyFile, Password: "guess", HasPassword: true}, err: "wrong password"},
		{name: "auto with a key and a wrong password", in: Input{Mode: Auto, KeyRef: keyFile, Password: "guess", HasPassword: true}, err: "wrong password"},
		{name: "no password", in: Input{Mode: Key, KeyRef: keyFile}, err: "set COSIGN_PASSWORD"},
		{name: "no key", in: Input{Mode: Key, HasPassword: true}, err: "needs --sign-key"},
		{name: "missing key file", in: Input{Mode: Key, KeyRef: filepath.Join(dir, "nope"), HasPassword: true}, err: "no such file"},
		{name: "a public key", in: Input{Mode: Key, KeyRef: pubFile, HasPassword: true}, err: `"PUBLIC KEY", not an encrypted cosign private key`},
		{name: "not PEM", in: Input{Mode: Key, KeyRef: junk, HasPassword: true}, err: "not a PEM file"},
		{name: "empty key variable", in: Input{Mode: Key, KeyRef: "env://NOPE", HasPassword: true}, err: "$NOPE is empty"},
		{name: "keyless is not available", in: Input{Mode: Keyless, OIDC: true}, err: "not available"},
		{name: "auto in Actions without a key", in: Input{Mode: Auto, OIDC: true}, unsigned: "keyless signing is not available"},
		{name: "auto without a key", in: Input{Mode: Auto}, unsigned: "no --sign-key"},
		{name: "off", in: Input{Mode: Off, KeyRef: keyFile}, unsigned: "--sign off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Getenv = getenv
			p, err := Decide(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to say %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "guess") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (p.Key != nil) != tt.signed {
				t.Fatalf("signed = %v, want %v", p.Key != nil, tt.signed)
			}
			if !strings.Contains(p.Unsigned, tt.unsigned) || (tt.signed && p.Unsigned != "") {
				t.Errorf("Unsigned = %q, want it to say %q", p.Unsigned, tt.unsigned)
			}
			if p.Key != nil && !bytes.Equal(p.Key.Public, keys.PublicBytes) {
				t.Errorf("public key differs from cosign's:\n%s\nwant\n%s", p.Key.Public, keys.PublicBytes)
			}
		})
	}
}
