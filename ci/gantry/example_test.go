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

// A service that isn't written in Go: its tests run in its own image, with
// a Redis beside them, and its Dockerfile builds FROM the same pinned image
// (ARG NODE_IMAGE). No Go module is tested.
func Example_node() {
	project := gantry.Project{
		Image: gantry.Image{Description: "The storefront", Licenses: "MIT"},
		// Each pinned by the digest of the index you reviewed.
		Images: map[string]string{
			"NODE_IMAGE":  "node:22.12-bookworm-slim@sha256:<64 hex digits>",
			"REDIS_IMAGE": "redis:7.4-alpine@sha256:<64 hex digits>",
		},
		Test: gantry.Test{Commands: []gantry.Command{{
			Image:    "NODE_IMAGE",
			Run:      []string{"node", "--test"},
			Env:      map[string]string{"REDIS_URL": "redis://cache:6379"},
			Services: []gantry.Service{{Name: "cache", Image: "REDIS_IMAGE", Port: 6379}},
		}}},
		Smoke: gantry.Smoke{Port: 3000, User: "node", Ready: gantry.Check{Path: "/healthz"}},
	}
	_ = project // in ci/main.go: gantry.Main(project)
}
