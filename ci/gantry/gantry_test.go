package gantry

import (
	"reflect"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/project"
	"github.com/gantry-ci/gantry/ci/internal/tags"
)

// Every field a repository declares reaches the pipeline.
func TestDeclaration(t *testing.T) {
	p := Project{
		Image: Image{Title: "orders", Description: "The orders service", Licenses: "Apache-2.0",
			Vendor: "Acme", Documentation: "https://acme.example/orders"},
		Images: map[string]string{"NODE_IMAGE": "node@sha256:0000000000000000000000000000000000000000000000000000000000000001"},
		Test: Test{GoModules: []string{".", "tools"}, Postgres: &Postgres{URLEnv: "TEST_DATABASE_URL"},
			Commands: []Command{{Name: "unit", Image: "NODE_IMAGE", Run: []string{"node", "--test"}, Dir: "web", Env: map[string]string{"CI": "1"},
				Services: []Service{{Name: "cache", Image: "NODE_IMAGE", Port: 6379, Env: map[string]string{"A": "b"}, Args: []string{"serve"}}}}}},
		Build: Build{Dockerfile: "build/Dockerfile", Target: "runtime", Args: map[string]string{"FLAVOUR": "slim"},
			Secrets: map[string]string{"npmrc": "NPM_TOKEN"}, Platforms: []string{"linux/amd64", "linux/arm/v7"}},
		Smoke: Smoke{Port: 3000, User: "node", Env: map[string]string{"NODE_ENV": "production"},
			Postgres: &Postgres{URLEnv: "PGURL"}, Services: []Service{{Name: "cache", Image: "NODE_IMAGE", Port: 6379, Env: map[string]string{"X": "y"}, Args: []string{"a"}}}, Ready: Check{Path: "/ready", Status: 204, Body: "x"}, ReadyWithin: time.Minute,
			Checks: []Check{{Path: "/missing", Status: 404}}, CheckWithin: 5 * time.Second,
			Outage: &Check{Path: "/ready", Status: 503, Body: "down"}, OutageWithin: 20 * time.Second,
			Healthcheck: Healthcheck{Env: map[string]string{"TARGET": "api:3000"}}},
		Scan: Scan{Severities: []string{"CRITICAL"}, IgnoreUnfixed: true, Covers: []Coverage{CoversOSPackages, CoversFile("/usr/bin/tini")}},
		Tags: Tags{Branch: true, Raw: []string{"edge"}, Prefix: "app-", Suffix: "-alpine"},
	}
	// A field added to the public types and not set above fails here, so
	// that it gets mapped in declaration() and checked below.
	allSet(t, "Project", reflect.ValueOf(p))
	want := project.Project{Title: "orders", Description: "The orders service", Licenses: "Apache-2.0",
		Vendor: "Acme", Documentation: "https://acme.example/orders", TestModules: []string{".", "tools"},
		TestPostgres: &project.Postgres{URLEnv: "TEST_DATABASE_URL"},
		TestCommands: []project.Command{{Name: "unit", Image: "NODE_IMAGE", Run: []string{"node", "--test"}, Dir: "web", Env: map[string]string{"CI": "1"},
			Services: []project.Service{{Name: "cache", Image: "NODE_IMAGE", Port: 6379, Env: map[string]string{"A": "b"}, Args: []string{"serve"}}}}},
		Images: map[string]string{"NODE_IMAGE": "node@sha256:0000000000000000000000000000000000000000000000000000000000000001"},
		Build: project.Build{Dockerfile: "build/Dockerfile", Target: "runtime", Args: map[string]string{"FLAVOUR": "slim"},
			Secrets: map[string]string{"npmrc": "NPM_TOKEN"}, Platforms: []string{"linux/amd64", "linux/arm/v7"}},
		Smoke: project.Smoke{Port: 3000, User: "node", Env: map[string]string{"NODE_ENV": "production"},
			Postgres: &project.Postgres{URLEnv: "PGURL"}, Services: []project.Service{{Name: "cache", Image: "NODE_IMAGE", Port: 6379, Env: map[string]string{"X": "y"}, Args: []string{"a"}}}, Ready: project.Check{Path: "/ready", Status: 204, Body: "x"}, ReadyWithin: time.Minute,
			Checks: []project.Check{{Path: "/missing", Status: 404}}, CheckWithin: 5 * time.Second,
			Outage: &project.Check{Path: "/ready", Status: 503, Body: "down"}, OutageWithin: 20 * time.Second,
			HealthcheckEnv: map[string]string{"TARGET": "api:3000"}},
		Scan: project.Scan{Severities: []string{"CRITICAL"}, IgnoreUnfixed: true, Covers: []string{"os-packages", "/usr/bin/tini"}},
		Tags: tags.Rules{Branch: true, Raw: []string{"edge"}, Flavor: tags.Flavor{Prefix: "app-", Suffix: "-alpine"}}}
	if got := p.declaration(); !reflect.DeepEqual(got, want) {
		t.Errorf("declaration() = %+v\nwant %+v", got, want)
	}
}

// allSet fails for every field of v, recursively, that holds its zero
// value.
func allSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.IsZero() {
		t.Errorf("%s is not set in the test's project", path)
		return
	}
	if v.Kind() == reflect.Struct {
		for i := range v.NumField() {
			allSet(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	}
}
