package proof

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// composeFile runs the PostgreSQL stand-in (as compose.yaml does, healthy
// when it answers over TCP) and builds the project's Dockerfile with the
// stand-in base images loaded in Docker.
const composeFile = `services:
  db:
    image: ${POSTGRES_IMAGE}
    environment:
      POSTGRES_PASSWORD: proof
      POSTGRES_USER: proof
      POSTGRES_DB: proofdb
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -p 5432 -U proof -d proofdb"]
      interval: 1s
      timeout: 5s
      retries: 60
  api:
    build:
      context: ${REPO_ROOT}
      args:
        - GO_IMAGE
        - RUNTIME_IMAGE
    image: gantry-testbed-proof-api:${PROJECT}
`

// docker compose (the plugin the bed installs) runs the stand-ins offline.
func TestCompose(t *testing.T) {
	requireBed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	project := "gantry-proof-" + nonce(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(composeFile), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "REPO_ROOT="+repoRoot(t), "PROJECT="+project)
	run := func(ctx context.Context, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "docker", append([]string{"compose", "-f", file, "-p", project}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	compose := func(args ...string) (string, error) { return run(ctx, args...) }
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if out, err := run(ctx, "down", "-v", "--rmi", "all", "--timeout", "5"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})

	out, err := exec.CommandContext(ctx, "docker", "compose", "version", "--short").CombinedOutput()
	if err != nil || !strings.HasPrefix(strings.TrimSpace(string(out)), "2.") {
		t.Fatalf("docker compose version: %q, %v", out, err)
	}
	if out, err := compose("up", "-d", "--wait", "--wait-timeout", "120", "db"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	out2, err := compose("exec", "-T", "-e", "PGPASSWORD=proof", "db", "psql", "-h", "127.0.0.1", "-U", "proof", "-d", "proofdb", "-tAc", "select 6*7")
	if err != nil || strings.TrimSpace(out2) != "42" {
		t.Errorf("psql in the compose service: %v\n%s", err, out2)
	}
	if out, err := compose("build", "api"); err != nil {
		t.Errorf("compose build of the project's Dockerfile on the stand-ins: %v\n%s", err, out)
	}
}
