package gantry

import (
	"os/exec"
	"strings"
	"testing"
)

// What a repository's `go run ./ci` compiles and links stays light: the
// signing, verification and transparency-log clients are the commands'
// (cmd/gantry-publish, compiled only when a run publishes or verifies, and
// cmd/gantry-verify). The compiler keeps Gantry's own packages apart (they
// are internal to cmd/); this keeps their dependencies apart too.
func TestLinksNoVerifier(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps listed %d packages: not this package's graph", len(deps))
	}
	for _, d := range deps {
		if d == "github.com/sigstore/cosign/v2/pkg/cosign" { // verification, with its Rekor and TUF clients
			t.Errorf("package gantry links %s: keep it in cmd/gantry-publish", d)
		}
		for _, heavy := range []string{
			"github.com/sigstore/rekor/pkg/client",
			"github.com/theupdateframework/go-tuf",
			"github.com/sigstore/sigstore-go",
		} {
			if d == heavy || strings.HasPrefix(d, heavy+"/") {
				t.Errorf("package gantry links %s: keep it in cmd/gantry-publish", d)
			}
		}
	}
}
