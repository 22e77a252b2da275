package project

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    Project
		want string // in the error; "" for none
	}{
		{name: "the zero project"},
		{name: "everything", p: Project{Title: "app", Description: "d", Licenses: "MIT", Vendor: "Acme",
			Documentation: "https://acme.example/app/docs", TestModules: []string{".", "api"}}},
		{name: "documentation without a scheme", p: Project{Documentation: "acme.example/docs"}, want: `gantry.Image.Documentation "acme.example/docs" is not an http(s) URL`},
		{name: "documentation as a file", p: Project{Documentation: "file:///docs/index.html"}, want: "is not an http(s) URL"},
		{name: "an empty module", p: Project{TestModules: []string{".", ""}}, want: "gantry.Test.GoModules has an empty entry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want it to say %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("Validate() = %q, want one line", err)
			}
		})
	}
}
