// Package registry runs the bed's OCI registries: Debian's docker-registry
// (distribution 2.8) as background processes on the docker0 address, one
// open and one behind htpasswd basic auth, with storage in the state dir.
package registry

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/testbed/internal/bgproc"
	"github.com/gantry-ci/gantry/testbed/internal/state"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// Registry is one registry server.
type Registry struct {
	// Name names its PID file, storage and log ("registry-5000").
	Name string
	// Addr is host:port to listen on.
	Addr string
	// User is the one htpasswd user; empty means no auth.
	User, Password string
	// Token, when set, is token auth instead (a registry like GHCR's).
	Token *TokenAuth
	// NoDelete refuses DELETE of tags and manifests (405), as GHCR does.
	NoDelete bool
}

// TokenAuth is the Docker token protocol: the registry sends clients to
// Realm for a token that Issuer signed for Service, with the key of a
// certificate in RootPEM (a file).
type TokenAuth struct{ Realm, Service, Issuer, RootPEM string }

// Config renders the registry's config.yml. storage is its root directory;
// htpasswd the password file (unused without a user).
func (r Registry) Config(storage, htpasswd string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: %t
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  headers:
    X-Content-Type-Options: [nosniff]
`, storage, !r.NoDelete, r.Addr)
	if t := r.Token; t != nil {
		fmt.Fprintf(&b, `auth:
  token:
    realm: %s
    service: %s
    issuer: %s
    rootcertbundle: %s
`, t.Realm, t.Service, t.Issuer, t.RootPEM)
	} else if r.User != "" {
		fmt.Fprintf(&b, `auth:
  htpasswd:
    realm: gantry-testbed
    path: %s
`, htpasswd)
	}
	return b.String()
}

// URL is the registry's base API URL.
func (r Registry) URL() string { return "http://" + r.Addr + "/v2/" }

// Ready reports whether the registry answers as configured: 200 without
// auth, 401 with it.
func (r Registry) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	want := http.StatusOK
	if r.User != "" {
		want = http.StatusUnauthorized
	}
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: status %d, want %d", r.URL(), resp.StatusCode, want)
	}
	return nil
}

// Ensure starts the registry unless the bed's process for it already runs
// and answers.
func (r Registry) Ensure(ctx context.Context, s *step.Step, st state.Dir, logPath string) error {
	pidFile := st.PIDFile(r.Name)
	if rec, ok, err := bgproc.Read(pidFile); err != nil {
		return err
	} else if ok && rec.Alive() {
		if err := r.Ready(ctx); err == nil && r.credentialsCurrent(st) {
			return step.Skip("%s answers (pid %d)", r.Addr, rec.PID)
		}
		s.Doing("restarting %s (pid %d)", r.Name, rec.PID)
		if err := rec.Stop(ctx, 10*time.Second); err != nil {
			return err
		}
	}
	if err := r.Ready(ctx); err == nil {
		return fmt.Errorf("something else already serves %s; stop it first", r.Addr)
	}
	dir := st.Path(r.Name)
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return err
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if r.User != "" {
		s.Doing("writing htpasswd (bcrypt) for %s", r.User)
		out, err := s.Output(s.Command(ctx, "htpasswd", "-Bbn", r.User, r.Password))
		if err != nil {
			return err
		}
		if err := os.WriteFile(htpasswd, out, 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "user"), []byte(r.User+"\n"+r.Password+"\n"), 0o600); err != nil {
			return err
		}
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(r.Config(storage, htpasswd)), 0o644); err != nil {
		return err
	}
	s.Doing("starting docker-registry on %s", r.Addr)
	rec, err := bgproc.Start([]string{"docker-registry", "serve", cfg}, os.Environ(), logPath, pidFile)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := r.Ready(ctx)
		if err == nil {
			return nil
		}
		if !rec.Alive() {
			return fmt.Errorf("docker-registry for %s exited; see %s", r.Addr, logPath)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("registry %s not ready: %w", r.Addr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// credentialsCurrent reports whether a running auth registry was set up
// with r's user and password.
func (r Registry) credentialsCurrent(st state.Dir) bool {
	if r.User == "" {
		return true
	}
	data, err := os.ReadFile(st.Path(r.Name, "user"))
	return err == nil && string(data) == r.User+"\n"+r.Password+"\n"
}

// Stop stops the registry process if the bed started it.
func (r Registry) Stop(ctx context.Context, st state.Dir) (bool, error) {
	rec, ok, err := bgproc.Read(st.PIDFile(r.Name))
	if err != nil || !ok {
		return false, err
	}
	return true, rec.Stop(ctx, 10*time.Second)
}
