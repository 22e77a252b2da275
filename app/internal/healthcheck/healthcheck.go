// Package healthcheck is the client side of /health, for the binary's
// healthcheck subcommand: distroless images have no shell or curl for a
// Docker HEALTHCHECK.
package healthcheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// URL returns the /health URL of a server listening on addr (host:port). A
// wildcard or empty host is probed on loopback.
func URL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("splitting listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/health", nil
}

// margin is how much longer than the server's health timeout the probe
// waits, so that a slow database shows up as the server's 503 with a reason
// rather than as a client timeout.
const margin = time.Second

// Probe calls url and returns nil if it answers 200. healthTimeout is the
// server's HEALTH_TIMEOUT.
func Probe(ctx context.Context, url string, healthTimeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout+margin)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("building request for %s: %w", url, err)
	}
	req.Header.Set("User-Agent", "gantry-healthcheck")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probing %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probing %s: status %d: %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}
