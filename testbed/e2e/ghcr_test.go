package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/testbed/internal/ghcr"
	"github.com/gantry-ci/gantry/testbed/internal/oidcissuer"
	"github.com/gantry-ci/gantry/testbed/internal/registry"
)

// ghcrPort is the GHCR-like registry's port, reachable from the engine
// (the bed's engine.toml speaks plain HTTP to 5000-5009).
const ghcrPort = "5008"

// ghcrLike is a registry that behaves like GHCR (testbed/internal/ghcr):
// its address, the one user and password that may push, and what it
// refuses besides (a fault to inject).
type ghcrLike struct {
	addr, user, password string
	refuse               *atomic.Pointer[func(*http.Request) bool]
}

// startGHCR starts Debian's docker-registry on a loopback port and, on
// host, a front that serves the token service at /token (as ghcr.io serves
// https://ghcr.io/token: go-containerregistry refuses a token realm on
// another private address than the registry's) and passes the rest to the
// registry, keeping the Host header so that upload locations point back
// at the front. All stop with the test.
func startGHCR(t *testing.T, host string) ghcrLike {
	t.Helper()
	pw := make([]byte, 12)
	rand.Read(pw)
	g := ghcrLike{addr: host + ":" + ghcrPort, user: "e2e", password: hex.EncodeToString(pw),
		refuse: new(atomic.Pointer[func(*http.Request) bool])}
	ts, err := ghcr.NewTokenService(g.user, g.password)
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backAddr := back.Addr().String()
	back.Close() // docker-registry listens there itself

	dir := t.TempDir()
	root := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(root, ts.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yml")
	realm := "http://" + g.addr + "/token"
	reg := registry.Registry{Addr: backAddr, NoDelete: true,
		Token: &registry.TokenAuth{Realm: realm, Service: ghcr.Service, Issuer: ghcr.Issuer, RootPEM: root}}
	if err := os.WriteFile(cfg, []byte(reg.Config(filepath.Join(dir, "storage"), "")), 0o644); err != nil {
		t.Fatal(err)
	}

	l, err := net.Listen("tcp", g.addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", g.addr, err)
	}
	backend := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: backAddr})
	mux := http.NewServeMux()
	mux.Handle("/token", ts)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := g.refuse.Load(); f != nil && (*f)(r) {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"injected: refused"}]}`, http.StatusForbidden)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	startServer(t, dir, "ghcr-registry", "docker-registry", []string{"serve", cfg}, func() error {
		resp, err := http.Get("http://" + g.addr + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return errors.New(resp.Status)
		}
		return nil
	})
	return g
}

// The registry behaves like GHCR in the three ways a publish meets: a
// Bearer challenge naming the token service, DELETE refused, and no
// referrers API.
func (g ghcrLike) checkBehaviour(t *testing.T) {
	t.Helper()
	resp, err := http.Get("http://" + g.addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized ||
		!strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `service="`+ghcr.Service+`"`) {
		t.Errorf("GET /v2/: %s, challenge %q; want 401 with a Bearer challenge", resp.Status, ch)
	}
	ref, err := name.NewTag(g.addr+"/e2e/"+unique("probe")+":x", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: g.user, Password: g.password})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("pushing with the user's credentials: %v", err)
	}
	other, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, other); err == nil {
		t.Error("an anonymous push was accepted")
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ref.Context().Digest(d.String()), auth); err == nil {
		t.Error("DELETE of a manifest was accepted")
	}
	if _, err := remote.Referrers(ref.Context().Digest(d.String()), auth, remote.WithReferrersTagFallback(false)); err == nil {
		t.Error("the registry answered the referrers API")
	}
}

// Issue 23: everything a deployer and a publish do, against a registry
// that behaves like GHCR (token auth scoped per repository and action, no
// DELETE, no referrers API): a keyless signed publish; every verifier
// (gantry verify, cosign v2 on the tags, cosign v3 and gh on the bundles
// in the referrers tag), anonymously, as for a public package; a release
// that promotes; and a publish that fails midway, whose new tags the
// registry won't delete, so they are emptied.
func TestGHCRLikeRegistry(t *testing.T) {
	t.Parallel()
	reg := bed(t)
	host, _, _ := strings.Cut(reg, ":")
	g := startGHCR(t, host)
	g.checkBehaviour(t)

	dir := copyRepo(t, nil)
	sha := headSHA(t, dir)
	const workflow = ".github/workflows/ci.yml"
	ss := startSigstore(t, host, ghcrPorts, oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/heads/main", sha, workflow))
	identity := "https://github.com/gantry-ci/gantry/" + workflow + "@refs/heads/main"
	image := uniqueImage("ghcr")
	repo := g.addr + "/" + image
	env := ss.env()
	env["GITHUB_TOKEN"] = g.password
	env["GANTRY_IMAGES"] = imagesFile(t, g.addr)
	args := []string{"--username", g.user, "--repository", "gantry-ci/gantry", "--fulcio-url", ss.fulcioURL,
		"--rekor-url", ss.rekorURL, "--ca-roots", ss.roots, "--rekor-key", ss.rekorKey, "--insecure-ignore-sct"}
	res := run(t, dir, env, append([]string{"--registry", g.addr, "--image", image}, args...)...)
	if res.code != exitOK {
		t.Fatalf("publishing: exit %d, want 0:\n%s", res.code, tailLines(res.stderr, 20))
	}
	tested := digestOf(t, repo+":"+sha)
	pinned := repo + "@" + tested
	if tested == "" || digestOf(t, repo+":latest") != tested {
		t.Fatalf("%s:%s -> %q, latest -> %q: want both at the published digest", repo, sha, tested, digestOf(t, repo+":latest"))
	}

	keyless := []string{"--certificate-oidc-issuer", ss.issuer.URL, "--ca-roots", ss.roots, "--insecure-ignore-sct", "--rekor-key", ss.rekorKey}
	if v := verifyImage(t, dir, append(keyless, "--images", env["GANTRY_IMAGES"], "--repository", "gantry-ci/gantry", "--commit", sha, repo+":latest")...); v.code != exitOK {
		t.Errorf("gantry verify: exit %d, want 0:\n%s", v.code, v.stdout)
	}
	if _, err := cosignVerify(t, ss.signer(identity), "verify", pinned); err != nil {
		t.Error("cosign v2 verify failed")
	}
	tr := ss.trustedRoot(t)
	for _, verb := range [][]string{{"verify"}, {"verify-attestation", "--type", "slsaprovenance1"}} {
		out, err := cosign3Verify(t, verb[0], tr, append(verb[1:], "--certificate-identity", identity,
			"--certificate-oidc-issuer", ss.issuer.URL, "--insecure-ignore-sct", pinned)...)
		if err != nil || (verb[0] == "verify" && !strings.Contains(out, bundleSigned)) {
			t.Errorf("cosign v3 %s: %v, want it to pass on the bundles:\n%s", strings.Join(verb, " "), err, out)
		}
	}
	if _, err := ghVerify(t, pinned, tr, "--repo", "gantry-ci/gantry", "--cert-oidc-issuer", ss.issuer.URL, "--source-ref", "refs/heads/main"); err != nil {
		t.Error("gh attestation verify failed")
	}

	// The release of that commit promotes the digest main signed.
	gitRun(t, dir, "tag", "v3.0.0")
	ss.issuer.SetClaims(oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/tags/v3.0.0", sha, workflow))
	rel := run(t, dir, env, append([]string{"--registry", g.addr, "--image", image, "--ref", "refs/tags/v3.0.0"}, args...)...)
	if rel.code != exitOK {
		t.Fatalf("releasing: exit %d, want 0:\n%s", rel.code, tailLines(rel.stderr, 20))
	}
	if !strings.Contains(rel.stdout, "promoted "+tested) || digestOf(t, repo+":3.0.0") != tested {
		t.Errorf("3.0.0 -> %s, want the promoted %s:\n%s", digestOf(t, repo+":3.0.0"), tested, tailLines(rel.stdout, 20))
	}

	// A publish that fails midway (the attestations refused, after the
	// signatures are in): no image tag, and the tags it wrote, which the
	// registry won't delete, list nothing.
	ss.issuer.SetClaims(oidcissuer.GitHubClaims("gantry-ci/gantry", "refs/heads/main", sha, workflow))
	refuseAttestations := func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256-") && strings.HasSuffix(r.URL.Path, ".att")
	}
	g.refuse.Store(&refuseAttestations)
	failing := uniqueImage("ghcr-fail")
	res = run(t, dir, env, append([]string{"--registry", g.addr, "--image", failing}, args...)...)
	g.refuse.Store(nil)
	if res.code != exitPublish {
		t.Fatalf("publishing with the attestations refused: exit %d, want %d", res.code, exitPublish)
	}
	if !strings.Contains(res.stderr, "the registry refuses deletes") {
		t.Errorf("stderr does not say which tags were emptied:\n%s", tailLines(res.stderr, 5))
	}
	if tags := imageTags(t, g.addr+"/"+failing); len(tags) > 0 {
		t.Errorf("the failed publish left image tags %v", tags)
	}
	signed := 0
	for _, tag := range tagsOf(t, g.addr+"/"+failing) {
		hexDigest, ok := strings.CutSuffix(strings.TrimPrefix(tag, "sha256-"), ".sig")
		if !ok {
			continue
		}
		signed++
		d := g.addr + "/" + failing + "@sha256:" + hexDigest
		if _, err := cosignVerify(t, ss.signer(identity), "verify", d); err == nil {
			t.Errorf("%s still has the failed publish's signature", d)
		}
		ref, err := name.NewDigest(d, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := remote.Referrers(ref)
		if err != nil {
			t.Fatal(err)
		}
		if im, err := idx.IndexManifest(); err != nil || len(im.Manifests) > 0 {
			t.Errorf("%s lists %d bundles of the failed publish (%v)", d, len(im.Manifests), err)
		}
	}
	if signed == 0 {
		t.Error("no signature tag was written: the failure was not in the middle of the publish")
	}
}
