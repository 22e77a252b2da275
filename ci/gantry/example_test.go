package gantry_test

import "github.com/gantry-ci/gantry/ci/gantry"

// A repository's ci/main.go declares its image, where its Go tests are and
// its service's contract; everything else is Gantry's defaults. Here: a
// service on port 3000 that reads its database's URL from DATABASE_URL,
// reports it on /healthz, and answers 503 there when the database is gone.
func Example() {
	project := gantry.Project{
		Image: gantry.Image{Description: "The orders service", Licenses: "Apache-2.0"},
		Test:  gantry.Test{GoModules: []string{"."}},
		Smoke: gantry.Smoke{
			Port:     3000,
			Postgres: &gantry.Postgres{URLEnv: "DATABASE_URL"},
			Ready:    gantry.Check{Path: "/healthz", Body: `"db":"up"`},
			Outage:   &gantry.Check{Path: "/healthz", Status: 503},
		},
	}
	_ = project // in ci/main.go: gantry.Main(project)
}
