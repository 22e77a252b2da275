package modbuild

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := Spec{Name: "x", Module: "m", Version: "v1", Packages: []string{"./cmd"}, Output: "x"}
	tests := []struct {
		name   string
		edit   func(*Spec)
		errHas string
	}{
		{"complete", func(*Spec) {}, ""},
		{"no module", func(s *Spec) { s.Module = "" }, "needs a name, module and version"},
		{"no packages", func(s *Spec) { s.Packages = nil }, "no packages"},
		{"no sumdb without pin", func(s *Spec) { s.NoSumDB = true }, "pins no module hash"},
		{"one package needs output", func(s *Spec) { s.Output = "" }, "output name"},
		{"several packages need none", func(s *Spec) { s.Output = ""; s.Packages = []string{"./a", "./b"} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := ok
			tt.edit(&sp)
			err := sp.Validate()
			if tt.errHas == "" && err != nil || tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Errorf("Validate = %v, want %q", err, tt.errHas)
			}
		})
	}
}

func TestKeyChangesWithInputs(t *testing.T) {
	base := Spec{Name: "x", Module: "m", Version: "v1", Packages: []string{"./cmd"}, Output: "x"}
	k := base.Key("go1.26.8")
	for name, edit := range map[string]func(*Spec){
		"version":     func(s *Spec) { s.Version = "v2" },
		"ldflags":     func(s *Spec) { s.LDFlags = "-s" },
		"env":         func(s *Spec) { s.Env = []string{"CGO_ENABLED=0"} },
		"tags":        func(s *Spec) { s.Tags = []string{"t"} },
		"prepare key": func(s *Spec) { s.PrepareKey = "p" },
		"files":       func(s *Spec) { s.Files = []string{"schema.sql"} },
	} {
		sp := base
		edit(&sp)
		if sp.Key("go1.26.8") == k {
			t.Errorf("key ignores %s", name)
		}
	}
	if base.Key("go1.27.0") == k {
		t.Error("key ignores the Go version")
	}
}
