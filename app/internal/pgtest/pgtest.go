// Package pgtest gives tests a real PostgreSQL: the server named by
// TEST_DATABASE_URL, and a TCP proxy in front of it that a test can cut and
// restore to play a database outage.
package pgtest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gantry-ci/gantry/app/internal/config"
	"github.com/gantry-ci/gantry/internal/testenv"
)

// EnvURL names the variable that points the tests at a PostgreSQL server.
const EnvURL = "TEST_DATABASE_URL"

// URL returns TEST_DATABASE_URL. Without it the test is skipped, or fails
// under CI=true, where skipping would hide that nothing was tested.
func URL(t testing.TB) string {
	t.Helper()
	return testenv.Require(t, "point it at a PostgreSQL server to run this test, e.g. "+
		EnvURL+"=postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable", EnvURL)[0]
}

// Secret returns the password in dsn, to check that it never shows up in
// output, or "" when such a check would be meaningless: a short password, or
// one that is also the user name or part of the rest of dsn, appears in
// output legitimately (user=gantry, postgres://...).
func Secret(t testing.TB, dsn string) string {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parsing %s: %v", EnvURL, err)
	}
	pw := cfg.Password
	if len(pw) < 8 || strings.Contains(config.Redact(dsn), pw) {
		t.Logf("the password in %s is not distinctive enough to search output for", EnvURL)
		return ""
	}
	return pw
}

// WithAddr returns dsn pointed at addr (host:port) instead of its own host.
func WithAddr(t testing.TB, dsn, addr string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("splitting %q: %v", addr, err)
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		// In key=value strings the last occurrence of a key wins.
		return dsn + " host=" + host + " port=" + port
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parsing %s as a URL: %v", EnvURL, err)
	}
	u.Host = addr
	q := u.Query()
	q.Del("host")
	q.Del("port")
	u.RawQuery = q.Encode()
	return u.String()
}

// WithPassword returns dsn with its password replaced.
func WithPassword(t testing.TB, dsn, password string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " password=" + password
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parsing %s as a URL: %v", EnvURL, err)
	}
	user := "postgres"
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

// ClosedAddr returns a loopback address on which nothing listens, so
// connecting to it is refused at once.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// target returns the network and address the server in dsn listens on.
func target(t testing.TB, dsn string) (network, addr string) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parsing %s: %v", EnvURL, err)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		return "unix", filepath.Join(cfg.Host, ".s.PGSQL."+strconv.Itoa(int(cfg.Port)))
	}
	return "tcp", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
}
