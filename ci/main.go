// Command gantry is this repository's pipeline: `go run ./ci --help`. It
// declares what is particular to the service it ships (app/, docs/service.md);
// everything else is Gantry's (package gantry).
package main

import "github.com/gantry-ci/gantry/ci/gantry"

func main() {
	gantry.Main(gantry.Project{
		Image: gantry.Image{
			Description: "Gantry example service: echo + pgx on PostgreSQL",
			Licenses:    "MIT",
		},
		Test: gantry.Test{
			GoModules: []string{"."},
			// The service's integration tests (app/internal/pgtest).
			Postgres: &gantry.Postgres{URLEnv: "TEST_DATABASE_URL"},
		},
		Smoke: gantry.Smoke{
			Port:     8080,
			User:     "65532",
			Postgres: &gantry.Postgres{URLEnv: "DATABASE_URL"},
			Env: map[string]string{
				"LOG_LEVEL": "debug",
				"APP_ENV":   "smoke",
				// Shorter than the default 2 s: the outage check waits for it.
				"HEALTH_TIMEOUT": "1s",
			},
			// /health proves the database answers.
			Ready:  gantry.Check{Path: "/health", Body: `"database":{"status":"ok"`},
			Checks: []gantry.Check{{Path: "/livez"}},
			// …and says so when it doesn't.
			Outage: &gantry.Check{Path: "/health", Status: 503},
			// `/app healthcheck` probes $ADDR.
			Healthcheck: gantry.Healthcheck{Env: map[string]string{"ADDR": "api:8080"}},
		},
	})
}
