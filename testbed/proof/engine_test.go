package proof

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The Go stand-in runs the host's toolchain inside the engine.
func TestGoImage(t *testing.T) {
	set := imageSet(t)
	ctx, client := connect(t, 5*time.Minute)
	out, err := client.Container().From(set.Go).
		WithEnvVariable("NONCE", nonce(t)).
		WithExec([]string{"go", "version"}).
		Stdout(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "go version go1.") {
		t.Errorf("go version printed %q", out)
	}
	env, err := client.Container().From(set.Go).EnvVariable(ctx, "GOTOOLCHAIN")
	if err != nil || env != "local" {
		t.Errorf("GOTOOLCHAIN = %q, %v", env, err)
	}
}

// The PostgreSQL stand-in serves as a Dagger service, reached by its alias
// from another container over TCP with password authentication.
func TestPostgresService(t *testing.T) {
	set := imageSet(t)
	ctx, client := connect(t, 5*time.Minute)
	password := "pw-" + nonce(t)
	db := client.Container().From(set.Postgres).
		WithEnvVariable("POSTGRES_PASSWORD", password).
		WithEnvVariable("POSTGRES_USER", "gantry").
		WithEnvVariable("POSTGRES_DB", "gantrydb").
		WithEnvVariable("NONCE", nonce(t)).
		WithExposedPort(5432).
		AsService(dagger.ContainerAsServiceOpts{UseEntrypoint: true})

	psql := func(pw, query string) *dagger.Container {
		return client.Container().From(set.Postgres).
			WithServiceBinding("db", db).
			WithEnvVariable("PGPASSWORD", pw).
			WithEnvVariable("NONCE", nonce(t)).
			WithExec([]string{"sh", "-c",
				`for i in $(seq 1 60); do pg_isready -q -h db -U gantry -d gantrydb && break; sleep 1; done
				psql -h db -U gantry -d gantrydb -tAc "$0"`, query},
				dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	}

	ok := psql(password, "select current_database() || ':' || (40+2)")
	code, err := ok.ExitCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := ok.Stdout(ctx)
	stderr, _ := ok.Stderr(ctx)
	if code != 0 || strings.TrimSpace(out) != "gantrydb:42" {
		t.Fatalf("psql exit %d, stdout %q, stderr %q", code, out, stderr)
	}

	bad := psql("wrong", "select 1")
	if code, err := bad.ExitCode(ctx); err != nil || code == 0 {
		stderr, _ := bad.Stderr(ctx)
		t.Errorf("psql with a wrong password: exit %d, err %v, stderr %q", code, err, stderr)
	}
}

// A container published to the bed's registry can be read back from the
// host.
func TestPublish(t *testing.T) {
	set := imageSet(t)
	ctx, client := connect(t, 5*time.Minute)
	ref := os.Getenv("TESTBED_REGISTRY") + "/proof/publish:" + nonce(t)
	pinned, err := client.Container().From(set.Probe).
		WithNewFile("/stamp", ref).
		Publish(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	_, dig, ok := strings.Cut(pinned, "@")
	if !ok {
		t.Fatalf("Publish returned %q, want a digest reference", pinned)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != dig {
		t.Errorf("registry has %s, Publish said %s", desc.Digest, dig)
	}
}

// The auth registry refuses anonymous pushes and reads and takes the bed's
// credentials, from the engine (WithRegistryAuth) and from the host.
func TestAuthRegistry(t *testing.T) {
	set := imageSet(t)
	ctx, client := connect(t, 5*time.Minute)
	reg := os.Getenv("TESTBED_AUTH_REGISTRY")
	user, pass := os.Getenv("TESTBED_AUTH_USERNAME"), os.Getenv("TESTBED_AUTH_PASSWORD")
	ref := reg + "/proof/auth:" + nonce(t)
	ctr := client.Container().From(set.Probe).WithNewFile("/stamp", ref)

	if _, err := ctr.Publish(ctx, ref); err == nil {
		t.Error("anonymous push to the auth registry succeeded")
	}
	pinned, err := ctr.WithRegistryAuth(reg, user, client.SetSecret("testbed-auth-"+nonce(t), pass)).Publish(ctx, ref)
	if err != nil {
		t.Fatalf("push with credentials: %v", err)
	}

	r, err := name.ParseReference(pinned, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	_, err = remote.Get(r, remote.WithContext(ctx))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous read: %v, want 401", err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	if _, err := remote.Get(r, remote.WithContext(ctx), auth); err != nil {
		t.Errorf("read with credentials: %v", err)
	}
}

// The project's Dockerfile builds on the stand-ins (its build stage
// downloads modules from the Go proxy through the engine's network).
func TestDockerBuild(t *testing.T) {
	set := imageSet(t)
	ctx, client := connect(t, 15*time.Minute)
	root := repoRoot(t)
	if _, err := os.Stat(root + "/Dockerfile"); err != nil {
		t.Fatalf("the project's Dockerfile: %v", err)
	}
	src := client.Host().Directory(root, dagger.HostDirectoryOpts{
		Exclude: []string{".git", ".testbed", "reports", "bench/out", "ci"},
	})
	img := src.DockerBuild(dagger.DirectoryDockerBuildOpts{
		BuildArgs: []dagger.BuildArg{
			{Name: "GO_IMAGE", Value: set.Go},
			{Name: "RUNTIME_IMAGE", Value: set.Runtime},
		},
	})
	size, err := img.File("/app").Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if size < 1<<20 {
		t.Errorf("/app is %d bytes, want a Go binary", size)
	}
	user, err := img.User(ctx)
	if err != nil || !strings.HasPrefix(user, "65532") {
		t.Errorf("image user %q, %v; want the nonroot user", user, err)
	}
	// The runtime base has no shell.
	if _, err := img.File("/bin/sh").Size(ctx); err == nil {
		t.Error("the runtime image has /bin/sh")
	}
	if _, err := img.File("/etc/ssl/certs/ca-certificates.crt").Size(ctx); err != nil {
		t.Errorf("the runtime image lacks the CA bundle: %v", err)
	}
}

// The probe calls a service by its alias the way the smoke stage does:
// sh and wget with a timeout (-T), which busybox builds without the
// feature crash on.
func TestProbeWget(t *testing.T) {
	set := imageSet(t)
	ctx, client := connect(t, 5*time.Minute)
	web := client.Container().From(set.Probe).
		WithNewFile("/www/health", "ok\n").
		WithEnvVariable("NONCE", nonce(t)).
		WithExposedPort(8080).
		AsService(dagger.ContainerAsServiceOpts{Args: []string{"httpd", "-f", "-p", "8080", "-h", "/www"}})
	out, err := client.Container().From(set.Probe).
		WithServiceBinding("api", web).
		WithEnvVariable("NONCE", nonce(t)).
		WithExec([]string{"sh", "-c", `wget -T 5 -O - http://api:8080/health 2>/tmp/err || { cat /tmp/err; exit 1; }
			if wget -T 2 -O - http://api:8080/missing 2>/tmp/err; then exit 1; fi
			grep ' 404 ' /tmp/err >&2`}).
		Stdout(ctx)
	if err != nil || strings.TrimSpace(out) != "ok" {
		t.Errorf("wget in the probe: %q, %v", out, err)
	}
}
