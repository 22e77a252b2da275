package gantry_test

import "github.com/gantry-ci/gantry/ci/gantry"

// A repository's ci/main.go: the service's image description and the Go
// modules its tests live in; everything else is Gantry's defaults.
func Example() {
	project := gantry.Project{
		Image: gantry.Image{
			Description:   "The orders service",
			Licenses:      "Apache-2.0",
			Vendor:        "Acme",
			Documentation: "https://acme.example/orders",
		},
		Test: gantry.Test{GoModules: []string{".", "tools"}},
	}
	_ = project // in ci/main.go: gantry.Main(project)
}
