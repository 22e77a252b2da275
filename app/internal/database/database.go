// Package database owns the PostgreSQL connection pool and the query that
// proves the database answers.
package database

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is the service's connection pool.
type DB struct {
	pool *pgxpool.Pool
}

// Open creates the pool without connecting: the service must start, and
// report itself unhealthy, while the database is still unreachable.
func Open(ctx context.Context, cfg *pgxpool.Config) (*DB, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating connection pool: %w", err)
	}
	return &DB{pool: pool}, nil
}

// Pool is the underlying pgx pool.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Stat reports pool statistics for metrics.
func (db *DB) Stat() *pgxpool.Stat { return db.pool.Stat() }

// Close waits for acquired connections to be released, then closes them all,
// giving up when ctx ends. pgx waits up to 15 s for each connection's
// cleanup, and a connection whose query timed out cleans up by sending a
// cancel request, which hangs when the server's host has vanished. The caller
// is exiting, so the close is left to finish, or not, in the background.
func (db *DB) Close(ctx context.Context) error {
	closed := make(chan struct{})
	go func() {
		db.pool.Close()
		close(closed)
	}()
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("closing connection pool: %w", ctx.Err())
	}
}

// Check runs SELECT 1 and returns how long it took. The caller bounds it with
// ctx. A connection that died with the server (a restart) fails only on its
// next use, so a failure is retried once, on a fresh connection, while time
// remains.
func (db *DB) Check(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	var err error
	for range 2 {
		// The simple protocol costs one round trip and no prepared statement.
		if _, err = db.pool.Exec(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol); err == nil {
			return time.Since(start), nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return time.Since(start), fmt.Errorf("running SELECT 1: %w", err)
}

// Reason describes a Check error in a few words that are safe to show to any
// caller: no host names, user names or server messages.
func Reason(ctx context.Context, err error) string {
	var pgErr *pgconn.PgError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) || pgconn.Timeout(err):
		return "database did not answer in time"
	case errors.Is(err, context.Canceled):
		return "check canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "database refused the connection"
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "28P01", "28000":
			return "database rejected the credentials"
		case "57P01", "57P02", "57P03":
			return "database is starting up or shutting down"
		case "3D000":
			return "database does not exist"
		}
		return "database returned an error (SQLSTATE " + pgErr.Code + ")"
	case errors.As(err, &netErr):
		return "database is unreachable"
	}
	return "database is unavailable"
}
