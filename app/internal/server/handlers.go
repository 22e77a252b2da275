package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gantry-ci/gantry/app/internal/database"
)

const (
	statusOK          = "ok"
	statusUnavailable = "unavailable"
)

type healthResponse struct {
	Status string `json:"status"`
	// Reason says why the service is unavailable; it never holds secrets.
	Reason   string         `json:"reason,omitempty"`
	Database databaseHealth `json:"database"`
	Version  string         `json:"version"`
	Commit   string         `json:"commit"`
}

type databaseHealth struct {
	Status    string  `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
}

type statusResponse struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// health reports the service and the database behind it.
func (s *Server) health(c echo.Context) error {
	latency, reason := s.checkDatabase(c)
	resp := healthResponse{
		Status:   statusOK,
		Database: databaseHealth{Status: statusOK, LatencyMS: float64(latency) / float64(time.Millisecond)},
		Version:  s.cfg.Version.Version,
		Commit:   s.cfg.Version.Commit,
	}
	noStore(c)
	if reason != "" {
		resp.Status, resp.Reason, resp.Database.Status = statusUnavailable, reason, statusUnavailable
		return c.JSON(http.StatusServiceUnavailable, resp)
	}
	return c.JSON(http.StatusOK, resp)
}

// readyz tells a load balancer whether to send traffic: only with a database.
func (s *Server) readyz(c echo.Context) error {
	_, reason := s.checkDatabase(c)
	noStore(c)
	if reason != "" {
		return c.JSON(http.StatusServiceUnavailable, statusResponse{Status: statusUnavailable, Reason: reason})
	}
	return c.JSON(http.StatusOK, statusResponse{Status: statusOK})
}

// livez tells an orchestrator the process is alive; it must not depend on the
// database, or a database outage would restart every replica.
func (s *Server) livez(c echo.Context) error {
	noStore(c)
	return c.JSON(http.StatusOK, statusResponse{Status: statusOK})
}

func (s *Server) version(c echo.Context) error {
	return c.JSON(http.StatusOK, s.cfg.Version)
}

// checkDatabase runs the database check within the health timeout and returns
// its latency, or a reason when it failed.
func (s *Server) checkDatabase(c echo.Context) (time.Duration, string) {
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.HealthTimeout)
	defer cancel()
	latency, err := s.db.Check(ctx)
	if err == nil {
		return latency, ""
	}
	reason := database.Reason(ctx, err)
	s.log.LogAttrs(ctx, slog.LevelWarn, "database check failed",
		slog.String("reason", reason),
		slog.String("error", err.Error()),
		slog.String("request_id", requestID(c)),
	)
	return latency, reason
}

func noStore(c echo.Context) {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
}
