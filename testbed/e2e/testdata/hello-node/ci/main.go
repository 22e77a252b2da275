// Command ci is hello-node's pipeline: a service that isn't written in Go,
// declared with Gantry's public package as any adopter would.
package main

import "github.com/gantry-ci/gantry/ci/gantry"

func main() {
	gantry.Main(gantry.Project{
		Image: gantry.Image{
			Title:         "hello-node",
			Description:   "Gantry's e2e project that isn't written in Go",
			Licenses:      "MIT",
			Vendor:        "Gantry",
			Documentation: "https://github.com/gantry-ci/gantry/tree/main/testbed/e2e/testdata/hello-node",
		},
		// Seen pinned in several public Dockerfiles; the test bed replaces
		// it with its own Node.js (--images).
		Images: map[string]string{
			"NODE_IMAGE": "node:18-bookworm-slim@sha256:f9ab18e354e6855ae56ef2b290dd225c1e51a564f87584b9bd21dd651838830e",
		},
		Test: gantry.Test{Commands: []gantry.Command{{Image: "NODE_IMAGE", Run: []string{"node", "--test"}}}},
		Smoke: gantry.Smoke{
			Port:   3000,
			User:   "node",
			Env:    map[string]string{"GREETING": "hello from the smoke test"},
			Ready:  gantry.Check{Path: "/healthz", Body: `"status":"ready"`},
			Checks: []gantry.Check{{Path: "/hello", Body: "hello from the smoke test"}, {Path: "/nope", Status: 404}},
			// healthcheck.js probes $HEALTH_URL.
			Healthcheck: gantry.Healthcheck{Env: map[string]string{"HEALTH_URL": "http://api:3000/healthz"}},
		},
		// Node.js comes from the image's OS packages: the scan must have
		// read them (there is no Go binary to read).
		Scan: gantry.Scan{Covers: []gantry.Coverage{gantry.CoversOSPackages}},
		// main-node, edge-node, latest-node, 1.5.2-node, 1.5-node…
		Tags: gantry.Tags{Branch: true, Raw: []string{"edge"}, Suffix: "-node"},
	})
}
