package compose

import (
	"strings"
	"testing"
)

func TestSpec(t *testing.T) {
	sp := Spec()
	if err := sp.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sp.LDFlags, "internal.Version="+Version) {
		t.Errorf("ldflags %q do not set the version", sp.LDFlags)
	}
	if sp.Output != "docker-compose" || sp.Packages[0] != "./cmd" {
		t.Errorf("spec %+v", sp)
	}
}
