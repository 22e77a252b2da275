package gantry

import (
	"reflect"
	"testing"

	"github.com/gantry-ci/gantry/ci/internal/project"
)

// Every field a repository declares reaches the pipeline.
func TestDeclaration(t *testing.T) {
	p := Project{
		Image: Image{Title: "orders", Description: "The orders service", Licenses: "Apache-2.0",
			Vendor: "Acme", Documentation: "https://acme.example/orders"},
		Test: Test{GoModules: []string{".", "tools"}},
	}
	want := project.Project{Title: "orders", Description: "The orders service", Licenses: "Apache-2.0",
		Vendor: "Acme", Documentation: "https://acme.example/orders", TestModules: []string{".", "tools"}}
	if got := p.declaration(); !reflect.DeepEqual(got, want) {
		t.Errorf("declaration() = %+v, want %+v", got, want)
	}
	// A field added to the public types must be mapped too: count them.
	if n, m := reflect.TypeOf(Image{}).NumField()+reflect.TypeOf(Test{}).NumField(), reflect.TypeOf(project.Project{}).NumField(); n != m {
		t.Errorf("the public types have %d fields, the declaration %d: map the new one in declaration()", n, m)
	}
}
