// Package signing decides how a run signs what it publishes (--sign,
// --sign-key, COSIGN_PASSWORD, GitHub Actions' OIDC token) and checks the
// key and its password, or that a token can be had, on the host before the
// engine is contacted, so that a wrong password or a missing id-token
// permission is a usage error and not a failed publish.
//
// The key is opened the way cosign.LoadPrivateKey opens it (the same PEM
// types, go-securesystemslib's encrypted envelope, PKCS #8), without
// importing cosign's signing package into `go run ./ci`, which would double
// its compile time. gantry-publish gets the decrypted key and loads it with
// cosign's own code.
package signing

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// Modes of --sign.
const (
	Auto    = "auto"
	Keyless = "keyless"
	Key     = "key"
	Off     = "off"
)

// Modes lists --sign's values.
var Modes = []string{Auto, Keyless, Key, Off}

// PEM block types of cosign private keys (cosign's keys.go).
var keyTypes = []string{"ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"}

// Plan is how a run signs: with Key, Keyless, or neither (unsigned).
type Plan struct {
	Key     *KeyPair
	Keyless *KeylessPlan
	// Unsigned says why nothing is signed, for the summary's "Unsigned:".
	Unsigned string
}

// KeyPair is an opened cosign key.
type KeyPair struct {
	// Private is the decrypted key, a PKCS #8 "PRIVATE KEY" PEM block. It
	// goes to gantry-publish as one Dagger secret instead of the encrypted
	// key and its password: the same power over the key in the same place,
	// without decrypting it (scrypt, about 0.3 s of CPU) a second time.
	Private []byte
	Public  []byte // PEM public key, as `cosign verify --key` reads it
	ID      string // sha256 of the public key's DER encoding
}

// KeylessPlan is a keyless signature: an ephemeral key, certified by Fulcio
// for the job's OIDC identity.
type KeylessPlan struct {
	// Token returns a fresh OIDC token for Fulcio (one lives minutes).
	Token func(context.Context) (string, error)
	// Claims are those of the token requested when the run was planned.
	Claims              Claims
	FulcioURL, RekorURL string // RekorURL "": no transparency log
}

// Input is what the decision is made from.
type Input struct {
	Mode     string // one of Modes, already validated
	KeyRef   string // --sign-key: a file, or env://VAR
	Password string // $COSIGN_PASSWORD
	// HasPassword says COSIGN_PASSWORD is set (an empty password is valid).
	HasPassword bool
	// OIDC is GitHub Actions' token service, nil when the job has none
	// (no `id-token: write`, or not in Actions).
	OIDC *ActionsOIDC
	// FulcioURL and RekorURL are where keyless signatures go; RekorURL ""
	// means no transparency log.
	FulcioURL, RekorURL string
	// RekorDefault says RekorURL is Sigstore's public log only because
	// nobody chose a log (neither --rekor-url nor GANTRY_REKOR_URL).
	RekorDefault bool
	// DefaultBranch is the branch whose pushes may sign keylessly, with
	// release tags.
	DefaultBranch string
	// Publishing says the run pushes; only then is a token requested.
	Publishing bool
	Now        func() time.Time
	Getenv     func(string) string
}

// Decide resolves --sign and opens the key. Errors name the bad input and
// how to fix it.
func Decide(ctx context.Context, in Input) (Plan, error) {
	mode := in.Mode
	if mode == Auto {
		switch {
		case in.KeyRef != "":
			mode = Key
		case in.OIDC != nil:
			mode = Keyless
		default:
			return Plan{Unsigned: "no --sign-key given, and no GitHub OIDC token (`permissions: id-token: write`) for keyless signing"}, nil
		}
	}
	switch mode {
	case Off:
		return Plan{Unsigned: "--sign off"}, nil
	case Keyless:
		return keyless(ctx, in)
	}
	if in.KeyRef == "" {
		return Plan{}, fmt.Errorf("--sign key needs --sign-key FILE or --sign-key env://VAR (a key from `cosign generate-key-pair`)")
	}
	data, err := readKey(in.KeyRef, in.Getenv)
	if err != nil {
		return Plan{}, err
	}
	if !in.HasPassword {
		return Plan{}, fmt.Errorf("--sign-key %s: set COSIGN_PASSWORD to the key's password (empty if it has none)", in.KeyRef)
	}
	kp, err := Open(data, []byte(in.Password))
	if err != nil {
		return Plan{}, fmt.Errorf("--sign-key %s: %w", in.KeyRef, err)
	}
	return Plan{Key: kp}, nil
}

// keyless plans a keyless signature and, when the run publishes, requests
// a token now, so that a job that can't get one fails before the engine is
// contacted.
func keyless(ctx context.Context, in Input) (Plan, error) {
	if in.OIDC == nil {
		return Plan{}, fmt.Errorf("--sign keyless needs GitHub Actions' OIDC token: give the job `permissions: id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL is unset), or sign with --sign-key")
	}
	k := &KeylessPlan{Token: in.OIDC.Token, FulcioURL: in.FulcioURL, RekorURL: in.RekorURL}
	if !in.Publishing {
		return Plan{Keyless: k}, nil
	}
	raw, err := in.OIDC.Token(ctx)
	if err != nil {
		return Plan{}, fmt.Errorf("--sign keyless: %v", err)
	}
	if k.Claims, err = ReadClaims(raw, in.Now()); err != nil {
		return Plan{}, fmt.Errorf("--sign keyless: %v", err)
	}
	// A signature nobody would trust is not made: promotion, the run
	// record and verify accept only the release policy's signers.
	policy, err := k.Claims.Release(in.DefaultBranch)
	if err == nil {
		err = policy.Check(k.Claims.Cert())
	}
	if err != nil {
		return Plan{}, fmt.Errorf("--sign keyless: this run's OIDC token is not one whose signatures count: %v; publish from a push to %s or a release tag, or pass --sign off", err, in.DefaultBranch)
	}
	// A public log's entries are public forever: the certificate in each
	// names the repository, its workflow and the commit.
	if vis := k.Claims.RepositoryVisibility; in.RekorDefault && vis != "public" {
		what := "the repository is " + vis
		if vis == "" {
			what = "the OIDC token does not say the repository is public (no repository_visibility claim)"
		}
		return Plan{}, fmt.Errorf("--sign keyless: %s, and a keyless signature would write its name, workflow and commit into Sigstore's public transparency log %s: pass --rekor-url %s to accept that, --rekor-url URL for a private log, or sign with --sign-key", what, in.RekorURL, in.RekorURL)
	}
	return Plan{Keyless: k}, nil
}

// readKey reads a file or, for env://VAR, the variable VAR.
func readKey(ref string, getenv func(string) string) ([]byte, error) {
	if v, ok := strings.CutPrefix(ref, "env://"); ok {
		data := getenv(v)
		if data == "" {
			return nil, fmt.Errorf("--sign-key %s: $%s is empty or unset: put the PEM private key in it", ref, v)
		}
		return []byte(data), nil
	}
	data, err := os.ReadFile(ref)
	if err != nil {
		return nil, fmt.Errorf("--sign-key: %w", err)
	}
	return data, nil
}

// Open decrypts a cosign private key with its password and derives the
// public key.
func Open(data, password []byte) (*KeyPair, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("not a PEM file: pass the private key `cosign generate-key-pair` wrote (cosign.key)")
	}
	if !slices.Contains(keyTypes, block.Type) {
		return nil, fmt.Errorf("holds a %q, not an encrypted cosign private key: pass cosign.key from `cosign generate-key-pair`", block.Type)
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		return nil, fmt.Errorf("COSIGN_PASSWORD does not decrypt it (wrong password?)")
	}
	pk, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("decrypts, but holds no PKCS #8 private key: %v", err)
	}
	signer, ok := pk.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("holds a %T, which can't sign", pk)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("reading its public key: %v", err)
	}
	sum := sha256.Sum256(pubDER)
	return &KeyPair{
		Private: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		Public:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		ID:      "sha256:" + hex.EncodeToString(sum[:]),
	}, nil
}
