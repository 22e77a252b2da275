// Package project is what a repository declares about its pipeline, in its
// ci/main.go through the public package gantry, as the pipeline takes it.
package project

import (
	"fmt"
	"net/url"
)

// Project is a repository's declaration. Zero values are defaults.
type Project struct {
	// The image's descriptive labels (org.opencontainers.image.*).
	Title, Description, Licenses, Vendor, Documentation string
	// TestModules are the Go modules the test stage vets and tests, by
	// directory under the repository root; none means the root module.
	TestModules []string
}

// Validate says in one line what the declaration got wrong and how to fix
// it.
func (p Project) Validate() error {
	if p.Documentation != "" {
		u, err := url.Parse(p.Documentation)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("gantry.Image.Documentation %q is not an http(s) URL: give the address of the image's documentation in ci/main.go", p.Documentation)
		}
	}
	for _, m := range p.TestModules {
		if m == "" {
			return fmt.Errorf("gantry.Test.GoModules has an empty entry: name each module by its directory, \".\" for the repository root")
		}
	}
	return nil
}
