// Package config reads the service's configuration from the environment,
// validates it, and keeps the database password out of anything printable.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults for unset variables.
const (
	DefaultAddr            = ":8080"
	DefaultEnv             = "production"
	DefaultHealthTimeout   = 2 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultMaxConns sizes the pool when DATABASE_URL has no
	// pool_max_conns. pgx's own default follows the service's CPU count,
	// which says nothing about what the database can take. Measured on 2
	// cores (docs/benchmarks.md), 16 connections served /health no faster
	// than 4 and tripled its p99.
	DefaultMaxConns = 4
	// applicationName shows the service in pg_stat_activity.
	applicationName = "gantry"
)

// Config is the validated configuration of the service.
type Config struct {
	// Addr is the HTTP listen address, host:port.
	Addr            string
	LogLevel        slog.Level
	Env             string
	HealthTimeout   time.Duration
	ShutdownTimeout time.Duration
	// Database is DATABASE_URL parsed, with the service's defaults applied.
	// It holds the password; log DatabaseURL instead.
	Database *pgxpool.Config
	// DatabaseURL is DATABASE_URL with its password masked, safe to log.
	DatabaseURL string
}

// LogValue keeps the password out of logs even if the whole Config is logged.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("env", c.Env),
		slog.String("health_timeout", c.HealthTimeout.String()),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.String("database_url", c.DatabaseURL),
		slog.Int("pool_max_conns", int(c.Database.MaxConns)),
	)
}

// Error is a configuration problem: which variable, what is wrong with it and
// how to fix it. Its text is one line and never contains a password.
type Error struct {
	Var     string
	Problem string
	Fix     string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s; %s", e.Var, e.Problem, e.Fix)
}

// Load reads the configuration through getenv (os.Getenv in production). An
// empty variable counts as unset. The error, if any, is an *Error.
func Load(getenv func(string) string) (Config, error) {
	cfg := Config{Env: DefaultEnv}
	dsn := getenv("DATABASE_URL")
	if dsn == "" {
		return Config{}, &Error{
			Var:     "DATABASE_URL",
			Problem: "is not set",
			Fix:     "set it to a PostgreSQL connection string, e.g. postgres://user:password@host:5432/dbname?sslmode=disable",
		}
	}
	var err error
	if cfg.Addr, err = ListenAddr(getenv); err != nil {
		return Config{}, err
	}
	if cfg.LogLevel, err = logLevel(getenv("LOG_LEVEL")); err != nil {
		return Config{}, err
	}
	if v := getenv("APP_ENV"); v != "" {
		cfg.Env = v
	}
	if cfg.HealthTimeout, err = duration(getenv, "HEALTH_TIMEOUT", DefaultHealthTimeout); err != nil {
		return Config{}, err
	}
	if cfg.ShutdownTimeout, err = duration(getenv, "SHUTDOWN_TIMEOUT", DefaultShutdownTimeout); err != nil {
		return Config{}, err
	}
	if cfg.Database, err = database(dsn, cfg.HealthTimeout); err != nil {
		return Config{}, err
	}
	cfg.DatabaseURL = Redact(dsn)
	return cfg, nil
}

// database parses dsn and applies the service's defaults where dsn is silent.
func database(dsn string, healthTimeout time.Duration) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &Error{
			Var:     "DATABASE_URL",
			Problem: "cannot be parsed: " + parseReason(err, dsn),
			Fix:     "use postgres://user:password@host:5432/dbname?sslmode=disable (percent-encode special characters) or host=... user=... dbname=...",
		}
	}
	// pgxpool drops its pool_* keys while parsing; only the connection-level
	// parse still shows whether pool_max_conns was given.
	if raw, err := pgconn.ParseConfig(dsn); err == nil {
		if _, ok := raw.RuntimeParams["pool_max_conns"]; !ok {
			cfg.MaxConns = DefaultMaxConns
		}
	}
	// pgxpool connects in the background with a 2-minute limit when none is
	// set; a connection attempt stuck on a black hole would hold a pool slot
	// that long and delay recovery.
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = healthTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	return cfg, nil
}

// parseReason is the part of a pgx parse error after the connection string it
// echoes, scrubbed of dsn's passwords: pgx's own masking is best effort.
func parseReason(err error, dsn string) string {
	reason := err.Error()
	var perr *pgconn.ParseConfigError
	if errors.As(err, &perr) {
		if i := strings.LastIndex(reason, "`: "); i >= 0 {
			reason = reason[i+len("`: "):]
		}
	}
	return scrub(reason, dsn)
}

func logLevel(v string) (slog.Level, error) {
	switch strings.ToLower(v) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, &Error{
		Var:     "LOG_LEVEL",
		Problem: fmt.Sprintf("%q is not a log level", v),
		Fix:     "set it to debug, info, warn or error",
	}
}

func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	fix := fmt.Sprintf("set it to a positive Go duration such as 500ms or 5s (default %s)", def)
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, &Error{Var: name, Problem: fmt.Sprintf("%q is not a duration", v), Fix: fix}
	}
	if d <= 0 {
		return 0, &Error{Var: name, Problem: fmt.Sprintf("%q is not positive", v), Fix: fix}
	}
	return d, nil
}

// Probe is the configuration of the healthcheck subcommand, which must work
// without DATABASE_URL.
type Probe struct {
	Addr          string
	HealthTimeout time.Duration
}

// LoadProbe reads the variables the healthcheck subcommand needs.
func LoadProbe(getenv func(string) string) (Probe, error) {
	addr, err := ListenAddr(getenv)
	if err != nil {
		return Probe{}, err
	}
	timeout, err := duration(getenv, "HEALTH_TIMEOUT", DefaultHealthTimeout)
	if err != nil {
		return Probe{}, err
	}
	return Probe{Addr: addr, HealthTimeout: timeout}, nil
}
