package project

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/ci/internal/tags"
)

const (
	node  = "node:22-bookworm-slim@sha256:0000000000000000000000000000000000000000000000000000000000000001"
	redis = "redis@sha256:0000000000000000000000000000000000000000000000000000000000000002"
)

func TestValidate(t *testing.T) {
	pg := &Postgres{URLEnv: "DATABASE_URL"}
	for _, tt := range []struct {
		name string
		p    Project
		want string // in the error; "" for none
	}{
		{name: "the zero project"},
		{name: "everything", p: Project{Title: "app", Description: "d", Licenses: "MIT", Vendor: "Acme",
			Documentation: "https://acme.example/app/docs", TestModules: []string{".", "api"},
			Smoke: Smoke{Port: 3000, User: "node", Env: map[string]string{"NODE_ENV": "production"}, Postgres: pg,
				Ready: Check{Path: "/healthz?full=1", Body: `"ok"`}, Checks: []Check{{Path: "/missing", Status: 404}},
				Outage: &Check{Path: "/healthz", Status: 503}, HealthcheckEnv: map[string]string{"TARGET": "api:3000"}}}},
		{name: "documentation without a scheme", p: Project{Documentation: "acme.example/docs"}, want: `gantry.Image.Documentation "acme.example/docs" is not an http(s) URL`},
		{name: "documentation as a file", p: Project{Documentation: "file:///docs/index.html"}, want: "is not an http(s) URL"},
		{name: "an empty module", p: Project{TestModules: []string{".", ""}}, want: "gantry.Test.GoModules has an empty entry"},
		{name: "a Dockerfile elsewhere, a target and args", p: Project{Build: Build{Dockerfile: "build/app.Dockerfile", Target: "runtime", Args: map[string]string{"FLAVOUR": "slim"}}}},
		{name: "a Dockerfile outside the repository", p: Project{Build: Build{Dockerfile: "../Dockerfile"}}, want: `gantry.Build.Dockerfile "../Dockerfile" is not a clean path inside the repository`},
		{name: "an absolute Dockerfile", p: Project{Build: Build{Dockerfile: "/src/Dockerfile"}}, want: "gantry.Build.Dockerfile"},
		{name: "an unclean Dockerfile path", p: Project{Build: Build{Dockerfile: "build//Dockerfile"}}, want: "gantry.Build.Dockerfile"},
		{name: "a reserved build arg", p: Project{Build: Build{Args: map[string]string{"VERSION": "1"}}}, want: "gantry.Build.Args: VERSION is Gantry's own"},
		{name: "a bad build arg name", p: Project{Build: Build{Args: map[string]string{"A-B": "1"}}}, want: `gantry.Build.Args: "A-B" is not a build arg name`},
		{name: "build secrets", p: Project{Build: Build{Secrets: map[string]string{"npmrc": "NPM_TOKEN", "pip.conf": "PIP_CONF"}}}},
		{name: "a secret id with a slash", p: Project{Build: Build{Secrets: map[string]string{"a/b": "X"}}}, want: `gantry.Build.Secrets: "a/b" is not a secret id`},
		{name: "a secret id of Gantry's", p: Project{Build: Build{Secrets: map[string]string{"gantry-registry-token": "X"}}}, want: "not starting with gantry-"},
		{name: "a secret from no variable", p: Project{Build: Build{Secrets: map[string]string{"npmrc": "NPM-TOKEN"}}}, want: `gantry.Build.Secrets["npmrc"]: "NPM-TOKEN" is not an environment variable name`},
		{name: "a port out of range", p: Project{Smoke: Smoke{Port: 70000}}, want: "gantry.Smoke.Port 70000 is not a TCP port"},
		{name: "a bad variable name", p: Project{Smoke: Smoke{Env: map[string]string{"LOG-LEVEL": "debug"}}}, want: `gantry.Smoke.Env: "LOG-LEVEL" is not a variable name`},
		{name: "a bad healthcheck variable", p: Project{Smoke: Smoke{HealthcheckEnv: map[string]string{"1ADDR": "x"}}}, want: `gantry.Smoke.Healthcheck.Env: "1ADDR"`},
		{name: "a database without its variable", p: Project{Smoke: Smoke{Postgres: &Postgres{}}}, want: "gantry.Smoke.Postgres.URLEnv"},
		{name: "an outage without a database", p: Project{Smoke: Smoke{Outage: &Check{Status: 503}}}, want: "gantry.Smoke.Outage checks the service while its database is down, and there is none"},
		{name: "a relative path", p: Project{Smoke: Smoke{Checks: []Check{{Path: "/livez"}, {Path: "health"}}}}, want: `gantry.Smoke.Checks[1]: path "health" is not an absolute path`},
		{name: "a full URL as path", p: Project{Smoke: Smoke{Ready: Check{Path: "http://other.example/health"}}}, want: "gantry.Smoke.Ready: path"},
		{name: "a redirect status", p: Project{Smoke: Smoke{Ready: Check{Status: 302}}}, want: "gantry.Smoke.Ready: status 302 can't be checked"},
		{name: "test commands with services", p: Project{Images: map[string]string{"NODE_IMAGE": node, "REDIS_IMAGE": redis},
			TestPostgres: &Postgres{URLEnv: "TEST_DATABASE_URL"},
			TestCommands: []Command{{Image: "NODE_IMAGE", Run: []string{"npm", "test"}, Dir: "web", Env: map[string]string{"CI": "true"},
				Services: []Service{{Name: "redis", Image: "REDIS_IMAGE", Port: 6379, Args: []string{"redis-server", "--save", ""}}}}}}},
		{name: "an image by tag", p: Project{Images: map[string]string{"NODE_IMAGE": "node:22"}}, want: `gantry.Images["NODE_IMAGE"]: "node:22" is not pinned by digest`},
		{name: "an image named as Gantry's", p: Project{Images: map[string]string{"GO_IMAGE": node}}, want: "gantry.Images: GO_IMAGE is Gantry's own build arg"},
		{name: "an image also a build arg", p: Project{Images: map[string]string{"NODE_IMAGE": node}, Build: Build{Args: map[string]string{"NODE_IMAGE": "x"}}}, want: "NODE_IMAGE is also in gantry.Build.Args"},
		{name: "an image that is no arg name", p: Project{Images: map[string]string{"node": node, "node-image": node}}, want: `"node-image" is not a build arg name`},
		{name: "a command in an undeclared image", p: Project{TestCommands: []Command{{Image: "NODE_IMAGE", Run: []string{"npm", "test"}}}}, want: `gantry.Test.Commands[0]: Image "NODE_IMAGE" is not in gantry.Images`},
		{name: "a command without a command", p: Project{Images: map[string]string{"N": node}, TestCommands: []Command{{Image: "N"}}}, want: "gantry.Test.Commands[0]: Run is empty"},
		{name: "a command outside the repository", p: Project{Images: map[string]string{"N": node}, TestCommands: []Command{{Image: "N", Run: []string{"ls"}, Dir: "../x"}}}, want: `Dir "../x" is not a clean directory`},
		{name: "a service without a port", p: Project{Images: map[string]string{"N": node}, TestCommands: []Command{{Image: "N", Run: []string{"ls"}, Services: []Service{{Name: "cache", Image: "N"}}}}}, want: `Services["cache"]: Port 0 is not a TCP port`},
		{name: "a service that is no host name", p: Project{Images: map[string]string{"N": node}, TestCommands: []Command{{Image: "N", Run: []string{"ls"}, Services: []Service{{Name: "My_Cache", Image: "N", Port: 1}}}}}, want: `Services: "My_Cache" is not a host name`},
		{name: "a service twice", p: Project{Images: map[string]string{"N": node}, TestCommands: []Command{{Image: "N", Run: []string{"ls"}, Services: []Service{{Name: "c", Image: "N", Port: 1}, {Name: "c", Image: "N", Port: 2}}}}}, want: `"c" is declared twice`},
		{name: "a service where the database is", p: Project{Images: map[string]string{"N": node}, TestPostgres: pg, TestCommands: []Command{{Image: "N", Run: []string{"ls"}, Services: []Service{{Name: "db", Image: "N", Port: 1}}}}}, want: `"db" is the host of gantry.Test.Postgres`},
		{name: "a test database without its variable", p: Project{TestPostgres: &Postgres{URLEnv: "test-db"}}, want: "gantry.Test.Postgres.URLEnv"},
		{name: "a scan", p: Project{Scan: Scan{Severities: []string{"MEDIUM", "HIGH", "CRITICAL"}, IgnoreUnfixed: true, Covers: []string{CoversOSPackages, CoversEntrypoint, "/usr/local/bin/node"}}}},
		{name: "a severity in lower case", p: Project{Scan: Scan{Severities: []string{"high"}}}, want: `gantry.Scan.Severities: "high" is not one of Trivy's severities`},
		{name: "a relative file to cover", p: Project{Scan: Scan{Covers: []string{"app/server"}}}, want: `gantry.Scan.Covers: "app/server" is neither`},
		{name: "platforms", p: Project{Build: Build{Platforms: []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le"}}}},
		{name: "a platform Gantry doesn't build", p: Project{Build: Build{Platforms: []string{"linux/amd64", "darwin/arm64"}}}, want: `gantry.Build.Platforms: "darwin/arm64": images run on linux here`},
		{name: "a platform twice", p: Project{Build: Build{Platforms: []string{"linux/arm64", "linux/arm64"}}}, want: `gantry.Build.Platforms: "linux/arm64" is listed twice`},
		{name: "tag rules", p: Project{Tags: tags.Rules{Branch: true, Raw: []string{"edge"}, Flavor: tags.Flavor{Suffix: "-alpine"}}}},
		{name: "a raw tag of Gantry's", p: Project{Tags: tags.Rules{Raw: []string{"latest"}}}, want: `gantry.Tags: raw tag "latest" is one of Gantry's own`},
		{name: "smoke services", p: Project{Images: map[string]string{"REDIS_IMAGE": redis}, Smoke: Smoke{Postgres: pg, Services: []Service{{Name: "cache", Image: "REDIS_IMAGE", Port: 6379}}}}},
		{name: "a smoke service named api", p: Project{Images: map[string]string{"N": node}, Smoke: Smoke{Services: []Service{{Name: "api", Image: "N", Port: 1}}}}, want: `gantry.Smoke.Services: "api" is the host of the service under test`},
		{name: "a smoke service where the database is", p: Project{Images: map[string]string{"N": node}, Smoke: Smoke{Postgres: pg, Services: []Service{{Name: "db", Image: "N", Port: 1}}}}, want: `"db" is the host of gantry.Smoke.Postgres`},
		{name: "a smoke service in an undeclared image", p: Project{Smoke: Smoke{Services: []Service{{Name: "cache", Image: "REDIS_IMAGE", Port: 6379}}}}, want: `gantry.Smoke.Services["cache"]: Image "REDIS_IMAGE" is not in gantry.Images`},
		{name: "a body in an error answer", p: Project{Smoke: Smoke{Postgres: pg, Outage: &Check{Status: 503, Body: "down"}}}, want: "gantry.Smoke.Outage: a body is checked only in a 2xx answer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.WithDefaults().Validate()
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

func TestWithDefaults(t *testing.T) {
	got := Project{}.WithDefaults().Smoke
	if got := (Project{}).WithDefaults().Build.Dockerfile; got != "Dockerfile" {
		t.Errorf("default Dockerfile %q, want Dockerfile", got)
	}
	want := Smoke{Port: 8080, Ready: Check{Path: "/", Status: 200}, ReadyWithin: 90 * time.Second,
		CheckWithin: 10 * time.Second, OutageWithin: 15 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults %+v, want %+v", got, want)
	}

	declared := Project{Smoke: Smoke{Port: 3000, ReadyWithin: time.Minute, Checks: []Check{{Path: "/livez"}},
		Outage: &Check{Status: 503}}}
	s := declared.WithDefaults().Smoke
	if s.Port != 3000 || s.ReadyWithin != time.Minute || s.Checks[0] != (Check{Path: "/livez", Status: 200}) ||
		*s.Outage != (Check{Path: "/", Status: 503}) {
		t.Errorf("with defaults %+v: a declared value was lost or a default missing", s)
	}
	if declared.Smoke.Checks[0].Status != 0 || declared.Smoke.Outage.Path != "" {
		t.Error("WithDefaults changed the declaration it was given")
	}
}

// The root Go module is tested by default, unless the project declares
// commands: a Node service has no go.mod to test.
func TestTestDefaults(t *testing.T) {
	if got := (Project{}).WithDefaults().TestModules; !reflect.DeepEqual(got, []string{"."}) {
		t.Errorf("modules %q, want the root module", got)
	}
	cmds := Project{TestCommands: []Command{{Image: "N", Run: []string{"npm", "test"}}, {Name: "lint", Image: "N", Run: []string{"npm", "run", "lint"}, Dir: "web"}}}
	got := cmds.WithDefaults()
	if len(got.TestModules) != 0 {
		t.Errorf("modules %q with commands declared, want none", got.TestModules)
	}
	want := []Command{{Name: "npm test", Image: "N", Run: []string{"npm", "test"}, Dir: "."}, {Name: "lint", Image: "N", Run: []string{"npm", "run", "lint"}, Dir: "web"}}
	if !reflect.DeepEqual(got.TestCommands, want) {
		t.Errorf("commands %+v, want %+v", got.TestCommands, want)
	}
	if cmds.TestCommands[0].Dir != "" {
		t.Error("WithDefaults changed the declaration it was given")
	}
	both := Project{TestModules: []string{"tools"}, TestCommands: cmds.TestCommands}.WithDefaults()
	if !reflect.DeepEqual(both.TestModules, []string{"tools"}) {
		t.Errorf("modules %q, want the declared ones", both.TestModules)
	}
}
