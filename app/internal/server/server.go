// Package server is the service's HTTP API: routes, handlers, middleware and
// the listener's lifecycle.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gantry-ci/gantry/app/internal/metrics"
	"github.com/gantry-ci/gantry/app/internal/version"
)

// Checker proves the database answers; *database.DB is one.
type Checker interface {
	Check(ctx context.Context) (time.Duration, error)
}

// Config is what the server needs beyond its collaborators.
type Config struct {
	// HealthTimeout bounds the database check of /health and /readyz.
	HealthTimeout time.Duration
	// ShutdownTimeout bounds how long in-flight requests may run after
	// the server stops accepting new ones.
	ShutdownTimeout time.Duration
	Version         version.Info
}

// Server serves the API until its context ends.
type Server struct {
	cfg     Config
	db      Checker
	metrics *metrics.Metrics
	log     *slog.Logger
	echo    *echo.Echo
	http    *http.Server
}

// MaxHeaderBytes bounds a request's headers; larger ones get 431.
const MaxHeaderBytes = 32 << 10

// New builds the server and its routes.
func New(cfg Config, db Checker, m *metrics.Metrics, log *slog.Logger) *Server {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{cfg: cfg, db: db, metrics: m, log: log, echo: e}
	s.http = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 5 * time.Second,
		// The service reads no request bodies worth waiting for; a client
		// that trickles one in holds a connection for at most this long.
		ReadTimeout: 10 * time.Second,
		// The slowest handler is /health at HealthTimeout.
		WriteTimeout:   cfg.HealthTimeout + 10*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.middleware()
	s.routes()
	return s
}

func (s *Server) routes() {
	s.echo.GET("/health", s.health)
	s.echo.GET("/livez", s.livez)
	s.echo.GET("/readyz", s.readyz)
	s.echo.GET("/version", s.version)
	s.echo.GET("/metrics", echo.WrapHandler(s.metrics.Handler()))
}

// Router gives access to the routes, so tests can add their own.
func (s *Server) Router() *echo.Echo { return s.echo }

// Run serves on ln until ctx ends, then stops accepting connections and
// waits up to the shutdown timeout for in-flight requests to finish.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- s.http.Serve(ln) }()
	s.log.Info("listening", slog.String("addr", ln.Addr().String()))

	select {
	case err := <-served:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}

	s.log.Info("shutting down", slog.String("timeout", s.cfg.ShutdownTimeout.String()))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(shutdownCtx); err != nil {
		// Requests still running past the deadline are cut off.
		_ = s.http.Close()
		return fmt.Errorf("waiting for in-flight requests: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP: %w", err)
	}
	return nil
}
