// Command app is the Gantry service: a small HTTP API backed by PostgreSQL.
// "app healthcheck" probes a running instance for the Docker HEALTHCHECK.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gantry-ci/gantry/app/internal/config"
	"github.com/gantry-ci/gantry/app/internal/database"
	"github.com/gantry-ci/gantry/app/internal/healthcheck"
	"github.com/gantry-ci/gantry/app/internal/logging"
	"github.com/gantry-ci/gantry/app/internal/metrics"
	"github.com/gantry-ci/gantry/app/internal/server"
	"github.com/gantry-ci/gantry/app/internal/version"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1
	exitConfig  = 2
)

// poolCloseTimeout bounds closing the database pool once the server has
// drained, so that a vanished database cannot hold up the exit.
const poolCloseTimeout = 2 * time.Second

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	switch {
	case len(args) == 1 && args[0] == "healthcheck":
		return probe()
	case len(args) > 0:
		fmt.Fprintf(os.Stderr, "app: unknown arguments %q; usage: app [healthcheck]\n", args)
		return exitConfig
	}

	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "app: invalid configuration: %v\n", err)
		return exitConfig
	}
	logger := logging.New(os.Stdout, cfg.LogLevel)
	defer logger.Close()
	log := logger.With(slog.String("env", cfg.Env))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process without waiting
	}()

	if err := serve(ctx, cfg, log); err != nil {
		log.Error("stopped", slog.String("error", err.Error()))
		return exitRuntime
	}
	log.Info("stopped")
	return exitOK
}

// serve wires database, metrics and server, and runs until ctx ends.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	info := version.Get()
	log.Info("starting", slog.String("version", info.Version), slog.String("commit", info.Commit), slog.Any("config", cfg))

	db, err := database.Open(ctx, cfg.Database)
	if err != nil {
		return err
	}
	// Deferred, so the pool closes only after the server has drained.
	defer closePool(db, min(poolCloseTimeout, cfg.ShutdownTimeout), log)

	m := metrics.New()
	if err := m.Register(metrics.NewPoolCollector(db)); err != nil {
		return fmt.Errorf("registering pool metrics: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	srv := server.New(server.Config{
		HealthTimeout:   cfg.HealthTimeout,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Version:         info,
	}, db, m, log)
	return srv.Run(ctx, ln)
}

// closePool closes db within timeout; a pool that does not close in time only
// delays an exit, so it is left behind with a warning, not an error.
func closePool(db *database.DB, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := db.Close(ctx); err != nil {
		log.Warn("closing the database pool timed out; exiting anyway",
			slog.String("timeout", timeout.String()), slog.String("error", err.Error()))
	}
}

// probe is the healthcheck subcommand. Docker reads only 0 (healthy) and 1
// (unhealthy), so every failure, a bad PORT included, exits 1.
func probe() int {
	cfg, err := config.LoadProbe(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "app healthcheck: invalid configuration: %v\n", err)
		return exitRuntime
	}
	url, err := healthcheck.URL(cfg.Addr)
	if err == nil {
		err = healthcheck.Probe(context.Background(), url, cfg.HealthTimeout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "app healthcheck: %v\n", err)
		return exitRuntime
	}
	return exitOK
}
