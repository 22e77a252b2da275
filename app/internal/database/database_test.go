package database_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-ci/gantry/app/internal/database"
	"github.com/gantry-ci/gantry/app/internal/pgtest"
)

func TestReason(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want string
	}{
		{"deadline", context.Background(), fmt.Errorf("acquiring: %w", context.DeadlineExceeded), "did not answer in time"},
		{"context expired", expired, errors.New("read: connection reset"), "did not answer in time"},
		{"canceled", context.Background(), context.Canceled, "canceled"},
		{"refused", context.Background(), fmt.Errorf("dialing: %w", refused), "refused"},
		{"bad password", context.Background(), &pgconn.PgError{Code: "28P01", Message: "password authentication failed for user \"x\""}, "rejected the credentials"},
		{"shutting down", context.Background(), &pgconn.PgError{Code: "57P01"}, "starting up or shutting down"},
		{"no database", context.Background(), &pgconn.PgError{Code: "3D000"}, "does not exist"},
		{"other server error", context.Background(), &pgconn.PgError{Code: "53300", Message: "too many connections for role \"x\""}, "SQLSTATE 53300"},
		{"network", context.Background(), &net.OpError{Op: "read", Net: "tcp", Err: errors.New("no route")}, "unreachable"},
		{"anything else", context.Background(), errors.New("unexpected EOF"), "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := database.Reason(tt.ctx, tt.err)
			if !strings.Contains(got, tt.want) {
				t.Errorf("Reason = %q, want it to contain %q", got, tt.want)
			}
			// Server messages name users and hosts; the reason must not.
			if strings.Contains(got, `"x"`) {
				t.Errorf("Reason %q repeats the server's message", got)
			}
		})
	}
}

// patient bounds a check or close that is expected to succeed, or to fail
// at once: far above what any loaded machine needs.
const patient = 30 * time.Second

func TestCheck(t *testing.T) {
	dsn := pgtest.URL(t)
	tests := []struct {
		name    string
		dsn     string
		timeout time.Duration
		wantErr bool
	}{
		{"database up", dsn, patient, false},
		{"nothing listening", pgtest.WithAddr(t, dsn, pgtest.ClosedAddr(t)), patient, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := pgxpool.ParseConfig(tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			db, err := database.Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close(context.Background())
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			latency, err := db.Check(ctx)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Check error = %v, want error %v", err, tt.wantErr)
			}
			if latency <= 0 || latency > tt.timeout {
				t.Errorf("latency %s out of range", latency)
			}
		})
	}
}

func TestClose(t *testing.T) {
	dsn := pgtest.URL(t)
	tests := []struct {
		name     string
		vanished bool
		limit    time.Duration
		wantErr  bool
	}{
		{"database up", false, patient, false},
		// A query that timed out leaves pgx a connection to clean up,
		// which it would wait 15 s for: Close must give up at its limit.
		{"database vanished", true, time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pgtest.NewProxy(t, dsn)
			cfg, err := pgxpool.ParseConfig(p.DSN(dsn))
			if err != nil {
				t.Fatal(err)
			}
			db, err := database.Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			check(t, db, patient, false)
			if tt.vanished {
				p.Freeze()
				// The frozen database never answers: the timeout
				// is sure to fire, however fast the machine.
				check(t, db, 300*time.Millisecond, true)
			}

			ctx, cancel := context.WithTimeout(context.Background(), tt.limit)
			defer cancel()
			start := time.Now()
			err = db.Close(ctx)
			elapsed := time.Since(start)
			if (err != nil) != tt.wantErr {
				t.Errorf("Close error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close error = %v, want it to wrap context.DeadlineExceeded", err)
			}
			// pgx's cleanup ends 15 s after the check timed out;
			// only a bound below that tells giving up from waiting.
			// It leaves seconds over the limit for a loaded machine.
			if bound := tt.limit + 10*time.Second; tt.vanished && elapsed > bound {
				t.Errorf("Close took %s, want at most %s (pgx would wait 15 s)", elapsed, bound)
			}
		})
	}
}

// check runs db.Check within timeout and fails t unless it errs as wanted.
func check(t *testing.T, db *database.DB, timeout time.Duration, wantErr bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := db.Check(ctx); (err != nil) != wantErr {
		t.Fatalf("Check error = %v, want error %v", err, wantErr)
	}
}
