package project

import (
	"reflect"
	"strings"
	"testing"
	"time"
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
