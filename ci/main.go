// Command gantry is this repository's pipeline: `go run ./ci --help`. It
// declares what is particular to the service it ships; everything else is
// Gantry's (package gantry).
package main

import "github.com/gantry-ci/gantry/ci/gantry"

func main() {
	gantry.Main(gantry.Project{
		Image: gantry.Image{
			Description: "Gantry example service: echo + pgx on PostgreSQL",
			Licenses:    "MIT",
		},
		Test: gantry.Test{GoModules: []string{"."}},
	})
}
