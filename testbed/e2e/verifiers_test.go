package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/internal/testenv"
	"github.com/gantry-ci/gantry/testbed/internal/trustroot"
)

// The verifiers deployers run, built by the bed from their modules: cosign
// v3 and the GitHub CLI read the Sigstore bundles Gantry attaches to an
// image as OCI referrers (cosign v2, in sign_test.go, reads the legacy
// tags).

func cosign3(t *testing.T) string {
	t.Helper()
	return testenv.Require(t, "the test bed builds cosign v3: run `go run ./testbed up` and source its env file", "TESTBED_COSIGN3")[0]
}

func ghCLI(t *testing.T) string {
	t.Helper()
	return testenv.Require(t, "the test bed builds the GitHub CLI: run `go run ./testbed up` and source its env file", "TESTBED_GH")[0]
}

// writeTrustedRoot writes s as trusted_root.json and returns its path.
func writeTrustedRoot(t *testing.T, s trustroot.Sigstore) string {
	t.Helper()
	raw, err := trustroot.JSON(s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// cosign3Verify runs cosign v3's verb (verify, verify-attestation) with
// the trusted root against the bed's plain-HTTP registries, and returns
// stdout. cosign v3 reads the bundles when an image has any, else the
// legacy tags; its `verify` tells which: from bundles it prints the
// statements' predicate types (bundleSigned), from the tags "cosign
// container image signature".
func cosign3Verify(t *testing.T, verb, trustedRoot string, args ...string) (string, error) {
	t.Helper()
	args = append([]string{verb, "--allow-http-registry", "--allow-insecure-registry", "--trusted-root", trustedRoot}, args...)
	return runTool(t, exec.Command(cosign3(t), args...))
}

// bundleSigned is what cosign v3's verify prints for the bundle of a
// `cosign sign` (predicate type https://sigstore.dev/cosign/sign/v1).
const bundleSigned = `"type":"https://sigstore.dev/cosign/sign/v1"`

// ghVerify runs `gh attestation verify oci://REF --bundle-from-oci` with
// the trusted root, reaching the registry through a loopback port: gh
// speaks plain HTTP to loopback registries only. No GitHub is contacted:
// the token only gets past gh's login check.
func ghVerify(t *testing.T, ref, trustedRoot string, args ...string) (string, error) {
	t.Helper()
	host, path, _ := strings.Cut(ref, "/")
	args = append([]string{"attestation", "verify", "oci://" + loopback(t, host) + "/" + path, "--bundle-from-oci",
		"--custom-trusted-root", trustedRoot}, args...)
	cmd := exec.Command(ghCLI(t), args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "GH_TOKEN=e2e", "GH_CONFIG_DIR="+home, "DOCKER_CONFIG="+home,
		"GH_NO_UPDATE_NOTIFIER=1", "GH_PROMPT_DISABLED=1", "NO_COLOR=1")
	return runTool(t, cmd)
}

// runTool runs cmd and returns its stdout, logging stderr when it fails.
func runTool(t *testing.T, cmd *exec.Cmd) (string, error) {
	t.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running %s: %v", cmd.Path, err)
	}
	if err != nil {
		t.Logf("%s: %v\n%s%s", strings.Join(cmd.Args, " "), err, out, stderr.String())
	}
	return string(out), err
}

// loopback forwards a port on 127.0.0.1 to addr until the test ends, and
// returns the forwarded address.
func loopback(t *testing.T, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var d net.Dialer
				up, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, up)
			}()
		}
	}()
	return l.Addr().String()
}
