package cosign

import (
	"strings"
	"testing"
)

func TestSpec(t *testing.T) {
	sp := Spec()
	if err := sp.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sp.LDFlags, "sigs.k8s.io/release-utils/version.gitVersion="+Version) {
		t.Errorf("ldflags %q do not set the version", sp.LDFlags)
	}
	if sp.Output != "cosign" || sp.Packages[0] != "./cmd/cosign" {
		t.Errorf("spec %+v", sp)
	}
	if Bin("/x") != "/x/cosign" {
		t.Errorf("Bin = %q", Bin("/x"))
	}
}
