package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The image and compose.yaml, for real: docker compose builds the service
// from the Dockerfile with the bed's stand-in base images, waits for both
// health checks, and the service answers /health; stopping PostgreSQL turns
// it 503 and starting it again 200, without restarting the service, which
// runs as uid 65532 on a read-only root filesystem, on loopback only, without
// the database's password variable.
func TestComposeStack(t *testing.T) {
	bed(t)
	for _, v := range []string{"GO_IMAGE", "RUNTIME_IMAGE", "POSTGRES_IMAGE"} {
		if os.Getenv(v) == "" {
			t.Fatalf("the bed exports no %s", v)
		}
	}
	dir := copyRepo(t, nil)
	pw := make([]byte, 8)
	rand.Read(pw)
	env, err := os.ReadFile(filepath.Join(dir, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, ".env", strings.ReplaceAll(string(env), "change-me", hex.EncodeToString(pw)))

	port := freePort(t)
	project := "gantry-e2e-" + hex.EncodeToString(pw[:3])
	compose := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("docker", append([]string{"compose", "-p", project}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), fmt.Sprintf("API_PORT=%d", port))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() {
		cmd := exec.Command("docker", "compose", "-p", project, "down", "-v", "--remove-orphans")
		cmd.Dir = dir
		cmd.Run()
	})

	compose("up", "-d", "--build", "--wait", "--wait-timeout", "180")
	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	waitStatus(t, url, http.StatusOK, 30*time.Second)

	api := strings.TrimSpace(compose("ps", "-q", "api"))
	inspect := func(format string) string {
		out, err := exec.Command("docker", "inspect", "-f", format, api).CombinedOutput()
		if err != nil {
			t.Fatalf("docker inspect: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := inspect("{{.State.Health.Status}}"); got != "healthy" {
		t.Errorf("Docker health status = %q, want healthy (the image's HEALTHCHECK)", got)
	}
	if got := inspect("{{.HostConfig.ReadonlyRootfs}}"); got != "true" {
		t.Errorf("read-only root filesystem = %s", got)
	}
	top, err := exec.Command("docker", "top", api, "-eo", "pid,uid,comm").CombinedOutput()
	if err != nil || !strings.Contains(string(top), "65532") {
		t.Errorf("the service does not run as uid 65532: %s (%v)", top, err)
	}
	started := inspect("{{.State.StartedAt}}")
	if env := inspect("{{json .Config.Env}}"); strings.Contains(env, "POSTGRES_PASSWORD") || !strings.Contains(env, "DATABASE_URL=") {
		t.Errorf("the service's environment = %s; want DATABASE_URL and no POSTGRES_PASSWORD", env)
	}
	if got := inspect(`{{(index (index .NetworkSettings.Ports "8080/tcp") 0).HostIp}}`); got != "127.0.0.1" {
		t.Errorf("the service's port is published on %q, want 127.0.0.1 by default", got)
	}
	pg := strings.TrimSpace(compose("ps", "-q", "postgres"))
	if out, err := exec.Command("docker", "inspect", "-f", "{{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}}", pg).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "ALL") || !strings.Contains(string(out), "no-new-privileges") {
		t.Errorf("postgres: cap_drop / security_opt = %s (%v), want ALL and no-new-privileges", out, err)
	}

	compose("stop", "postgres")
	waitStatus(t, url, http.StatusServiceUnavailable, 15*time.Second)
	compose("start", "postgres")
	waitStatus(t, url, http.StatusOK, 60*time.Second)
	if got := inspect("{{.State.StartedAt}}"); got != started {
		t.Errorf("the service was restarted (%s, then %s): it should recover by itself", started, got)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitStatus polls url until it answers want, or fails after d.
func waitStatus(t *testing.T, url string, want int, d time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(d)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("GET %s: no %d within %s; last: %s", url, want, d, last)
}
