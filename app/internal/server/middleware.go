package server

import (
	"log/slog"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// maxRequestIDLen caps an incoming X-Request-ID; a longer one is replaced,
// so that a client cannot bloat every log line it causes.
const maxRequestIDLen = 128

// unmatchedRoute labels requests that matched no route, so that scanners
// probing random paths cannot blow up metric cardinality.
const unmatchedRoute = "unmatched"

func (s *Server) middleware() {
	s.echo.Use(
		dropLongRequestID,
		// Honours an incoming X-Request-ID, else generates one, and echoes it.
		middleware.RequestID(),
		middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
			LogMethod:    true,
			LogURIPath:   true,
			LogRoutePath: true,
			LogStatus:    true,
			LogLatency:   true,
			LogRequestID: true,
			LogError:     true,
			// Let echo turn the error into a response first, so the logged
			// status is the one sent.
			HandleError:   true,
			LogValuesFunc: s.logRequest,
		}),
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				s.log.LogAttrs(c.Request().Context(), slog.LevelError, "panic",
					slog.String("error", err.Error()),
					slog.String("request_id", requestID(c)),
					slog.String("stack", string(stack)),
				)
				return err
			},
		}),
	)
}

// logRequest writes one log line per request and records its metrics. On
// the common path the line costs no allocation: LogAttrs with at most five
// attributes, and no floats, which slog's JSON handler allocates to encode.
func (s *Server) logRequest(c echo.Context, v middleware.RequestLoggerValues) error {
	route := v.RoutePath
	if route == "" {
		route = unmatchedRoute
	}
	s.metrics.ObserveRequest(v.Method, route, v.Status, v.Latency)

	level := slog.LevelInfo
	if v.Status >= 500 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("method", v.Method),
		slog.String("route", route),
		slog.Int("status", v.Status),
		slog.Int64("duration_us", v.Latency.Microseconds()),
		slog.String("request_id", v.RequestID),
	}
	if route == unmatchedRoute {
		attrs = append(attrs, slog.String("path", v.URIPath))
	}
	if v.Error != nil && v.Status >= 500 {
		attrs = append(attrs, slog.String("error", v.Error.Error()))
	}
	s.log.LogAttrs(c.Request().Context(), level, "request", attrs...)
	return nil
}

func dropLongRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if h := c.Request().Header; len(h.Get(echo.HeaderXRequestID)) > maxRequestIDLen {
			h.Del(echo.HeaderXRequestID)
		}
		return next(c)
	}
}

// requestID is the ID the RequestID middleware settled on for c.
func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}
