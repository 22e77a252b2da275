package config

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const (
	testPassword = "Sup3rS3cret"
	testURL      = "postgres://gantry:" + testPassword + "@db.internal:5432/gantry?sslmode=disable"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoadValid(t *testing.T) {
	tests := []struct {
		name  string
		env   func(string) string
		check func(t *testing.T, c Config)
	}{
		{"defaults", env("DATABASE_URL", testURL), func(t *testing.T, c Config) {
			want := Config{Addr: ":8080", LogLevel: slog.LevelInfo, Env: DefaultEnv, HealthTimeout: 2 * time.Second, ShutdownTimeout: 10 * time.Second}
			if c.Addr != want.Addr || c.LogLevel != want.LogLevel || c.Env != want.Env || c.HealthTimeout != want.HealthTimeout || c.ShutdownTimeout != want.ShutdownTimeout {
				t.Errorf("got %+v, want %+v", c, want)
			}
			if c.Database.MaxConns != DefaultMaxConns {
				t.Errorf("MaxConns = %d, want %d", c.Database.MaxConns, DefaultMaxConns)
			}
			if c.Database.ConnConfig.ConnectTimeout != 2*time.Second {
				t.Errorf("ConnectTimeout = %s, want the health timeout", c.Database.ConnConfig.ConnectTimeout)
			}
			if got := c.Database.ConnConfig.RuntimeParams["application_name"]; got != "gantry" {
				t.Errorf("application_name = %q", got)
			}
			if c.Database.ConnConfig.Password != testPassword {
				t.Errorf("password was not parsed")
			}
		}},
		{"PORT", env("DATABASE_URL", testURL, "PORT", "9090"), addrIs(":9090")},
		{"PORT with leading zero", env("DATABASE_URL", testURL, "PORT", "08080"), addrIs(":8080")},
		{"ADDR", env("DATABASE_URL", testURL, "ADDR", "127.0.0.1:9090"), addrIs("127.0.0.1:9090")},
		{"ADDR IPv6", env("DATABASE_URL", testURL, "ADDR", "[::1]:9090"), addrIs("[::1]:9090")},
		{"PORT and ADDR agree", env("DATABASE_URL", testURL, "ADDR", "127.0.0.1:9090", "PORT", "9090"), addrIs("127.0.0.1:9090")},
		{"LOG_LEVEL any case", env("DATABASE_URL", testURL, "LOG_LEVEL", "DEBUG"), func(t *testing.T, c Config) {
			if c.LogLevel != slog.LevelDebug {
				t.Errorf("LogLevel = %s", c.LogLevel)
			}
		}},
		{"APP_ENV", env("DATABASE_URL", testURL, "APP_ENV", "staging"), func(t *testing.T, c Config) {
			if c.Env != "staging" {
				t.Errorf("Env = %q", c.Env)
			}
		}},
		{"durations", env("DATABASE_URL", testURL, "HEALTH_TIMEOUT", "500ms", "SHUTDOWN_TIMEOUT", "1m"), func(t *testing.T, c Config) {
			if c.HealthTimeout != 500*time.Millisecond || c.ShutdownTimeout != time.Minute {
				t.Errorf("timeouts = %s, %s", c.HealthTimeout, c.ShutdownTimeout)
			}
			if c.Database.ConnConfig.ConnectTimeout != 500*time.Millisecond {
				t.Errorf("ConnectTimeout = %s, want the health timeout", c.Database.ConnConfig.ConnectTimeout)
			}
		}},
		{"pool and connect settings in the URL win", env("DATABASE_URL", testURL+"&pool_max_conns=3&connect_timeout=7&application_name=x"), func(t *testing.T, c Config) {
			if c.Database.MaxConns != 3 {
				t.Errorf("MaxConns = %d, want 3", c.Database.MaxConns)
			}
			if c.Database.ConnConfig.ConnectTimeout != 7*time.Second {
				t.Errorf("ConnectTimeout = %s, want 7s", c.Database.ConnConfig.ConnectTimeout)
			}
			if got := c.Database.ConnConfig.RuntimeParams["application_name"]; got != "x" {
				t.Errorf("application_name = %q", got)
			}
		}},
		{"key=value DSN", env("DATABASE_URL", "host=db.internal port=5433 user=gantry password="+testPassword+" dbname=gantry pool_max_conns=5"), func(t *testing.T, c Config) {
			if c.Database.ConnConfig.Port != 5433 || c.Database.MaxConns != 5 {
				t.Errorf("port %d, MaxConns %d", c.Database.ConnConfig.Port, c.Database.MaxConns)
			}
			if strings.Contains(c.DatabaseURL, testPassword) {
				t.Errorf("DatabaseURL %q shows the password", c.DatabaseURL)
			}
		}},
		{"redacted URL", env("DATABASE_URL", testURL), func(t *testing.T, c Config) {
			if want := "postgres://gantry:xxxxx@db.internal:5432/gantry?sslmode=disable"; c.DatabaseURL != want {
				t.Errorf("DatabaseURL = %q, want %q", c.DatabaseURL, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func addrIs(want string) func(*testing.T, Config) {
	return func(t *testing.T, c Config) {
		t.Helper()
		if c.Addr != want {
			t.Errorf("Addr = %q, want %q", c.Addr, want)
		}
	}
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name    string
		env     func(string) string
		wantVar string
		want    string // in the message
	}{
		{"missing DATABASE_URL", env(), "DATABASE_URL", "is not set"},
		{"empty DATABASE_URL", env("DATABASE_URL", ""), "DATABASE_URL", "is not set"},
		{"URL with bad port", env("DATABASE_URL", "postgres://gantry:"+testPassword+"@db:notaport/gantry"), "DATABASE_URL", "cannot be parsed"},
		{"URL with broken IPv6 host", env("DATABASE_URL", "postgres://gantry:"+testPassword+"@[::1/gantry"), "DATABASE_URL", "cannot be parsed"},
		{"URL with bad pool_max_conns", env("DATABASE_URL", testURL+"&pool_max_conns=lots"), "DATABASE_URL", "pool_max_conns"},
		{"URL with bad query", env("DATABASE_URL", "postgres://db/gantry?password="+testPassword+"&sslmode"), "DATABASE_URL", "cannot be parsed"},
		{"key=value with bad port", env("DATABASE_URL", "host=db port=abc password="+testPassword), "DATABASE_URL", "cannot be parsed"},
		{"key=value unterminated quote", env("DATABASE_URL", "host=db password='"+testPassword), "DATABASE_URL", "cannot be parsed"},
		{"key=value password with space", env("DATABASE_URL", "host=db password=abc "+testPassword+" dbname=x"), "DATABASE_URL", "cannot be parsed"},
		{"garbage", env("DATABASE_URL", "not a connection string"), "DATABASE_URL", "cannot be parsed"},
		{"PORT not a number", env("DATABASE_URL", testURL, "PORT", "http"), "PORT", `"http" is not a number`},
		{"PORT zero", env("DATABASE_URL", testURL, "PORT", "0"), "PORT", "out of range"},
		{"PORT negative", env("DATABASE_URL", testURL, "PORT", "-1"), "PORT", "out of range"},
		{"PORT too large", env("DATABASE_URL", testURL, "PORT", "65536"), "PORT", "out of range"},
		{"ADDR without port", env("DATABASE_URL", testURL, "ADDR", "8080"), "ADDR", "not a host:port"},
		{"ADDR with bad port", env("DATABASE_URL", testURL, "ADDR", ":http"), "ADDR", "not a number"},
		{"ADDR with empty port", env("DATABASE_URL", testURL, "ADDR", "localhost:"), "ADDR", "not a number"},
		{"ADDR port too large", env("DATABASE_URL", testURL, "ADDR", ":70000"), "ADDR", "out of range"},
		{"ADDR with spaces", env("DATABASE_URL", testURL, "ADDR", "local host:80"), "ADDR", "invalid host"},
		{"PORT and ADDR disagree", env("DATABASE_URL", testURL, "ADDR", ":8080", "PORT", "9090"), "PORT", "disagrees with ADDR"},
		{"PORT bad while ADDR set", env("DATABASE_URL", testURL, "ADDR", ":8080", "PORT", "x"), "PORT", "not a number"},
		{"LOG_LEVEL unknown", env("DATABASE_URL", testURL, "LOG_LEVEL", "verbose"), "LOG_LEVEL", `"verbose" is not a log level`},
		{"HEALTH_TIMEOUT without unit", env("DATABASE_URL", testURL, "HEALTH_TIMEOUT", "5"), "HEALTH_TIMEOUT", "not a duration"},
		{"HEALTH_TIMEOUT negative", env("DATABASE_URL", testURL, "HEALTH_TIMEOUT", "-1s"), "HEALTH_TIMEOUT", "not positive"},
		{"HEALTH_TIMEOUT zero", env("DATABASE_URL", testURL, "HEALTH_TIMEOUT", "0s"), "HEALTH_TIMEOUT", "not positive"},
		{"SHUTDOWN_TIMEOUT garbage", env("DATABASE_URL", testURL, "SHUTDOWN_TIMEOUT", "soon"), "SHUTDOWN_TIMEOUT", "not a duration"},
		{"SHUTDOWN_TIMEOUT negative", env("DATABASE_URL", testURL, "SHUTDOWN_TIMEOUT", "-10s"), "SHUTDOWN_TIMEOUT", "not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.env)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error %T is not a *config.Error: %v", err, err)
			}
			msg := err.Error()
			t.Log(msg)
			if cerr.Var != tt.wantVar {
				t.Errorf("Var = %q, want %q", cerr.Var, tt.wantVar)
			}
			if !strings.HasPrefix(msg, tt.wantVar+" ") {
				t.Errorf("message does not start with the variable name: %q", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
			if cerr.Fix == "" {
				t.Error("no fix suggested")
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("message spans lines: %q", msg)
			}
			if strings.Contains(msg, testPassword) {
				t.Errorf("message shows the password: %q", msg)
			}
		})
	}
}

func TestListenAddrNeedsNoDatabase(t *testing.T) {
	addr, err := ListenAddr(env("PORT", "9000"))
	if err != nil || addr != ":9000" {
		t.Fatalf("ListenAddr = %q, %v", addr, err)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name string
		dsn  string
		want string // exact result; empty means only "no password, has mask"
	}{
		{"URL", "postgres://gantry:" + testPassword + "@db:5432/gantry?sslmode=disable", "postgres://gantry:xxxxx@db:5432/gantry?sslmode=disable"},
		{"postgresql scheme", "postgresql://gantry:" + testPassword + "@db/gantry", "postgresql://gantry:xxxxx@db/gantry"},
		{"URL without password", "postgres://gantry@db/gantry", "postgres://gantry@db/gantry"},
		{"URL without userinfo", "postgres://db:5432/gantry", "postgres://db:5432/gantry"},
		{"URL password in query", "postgres://db/gantry?user=g&password=" + testPassword + "&sslmode=disable", "postgres://db/gantry?user=g&password=xxxxx&sslmode=disable"},
		{"URL sslpassword in query", "postgres://db/gantry?sslpassword=" + testPassword, "postgres://db/gantry?sslpassword=xxxxx"},
		{"URL encoded key", "postgres://db/gantry?pass%77ord=" + testPassword, "postgres://db/gantry?pass%77ord=xxxxx"},
		{"URL percent-encoded password", "postgres://gantry:Sup3r%40S3cret@db/gantry", "postgres://gantry:xxxxx@db/gantry"},
		{"URL raw @ and / in password", "postgres://gantry:Sup3r@/S3cret@db/gantry", "postgres://gantry:xxxxx@db/gantry"},
		{"key=value", "host=db user=gantry password=" + testPassword + " dbname=gantry", "host=db user=gantry password=xxxxx dbname=gantry"},
		{"key=value quoted", "host=db password='" + testPassword + " with space' dbname=gantry", "host=db password=xxxxx dbname=gantry"},
		{"key=value quoted escape", `host=db password='Sup3r\'S3cret' dbname=gantry`, "host=db password=xxxxx dbname=gantry"},
		{"key=value spaces around =", "host=db password = " + testPassword + " dbname=gantry", "host=db password = xxxxx dbname=gantry"},
		{"key=value unterminated quote", "host=db password='" + testPassword + " dbname=gantry", "host=db password=xxxxx"},
		{"key=value password last", "host=db password=" + testPassword, "host=db password=xxxxx"},
		{"key=value password and sslpassword", "password=" + testPassword + " sslpassword=" + testPassword + "2 host=db", "password=xxxxx sslpassword=xxxxx host=db"},
		{"key=value upper case key", "host=db PASSWORD=" + testPassword, "host=db PASSWORD=xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.dsn)
			if got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.dsn, got, tt.want)
			}
			for _, secret := range []string{testPassword, "S3cret"} {
				if strings.Contains(got, secret) {
					t.Errorf("Redact(%q) = %q still shows %q", tt.dsn, got, secret)
				}
			}
		})
	}
}

func TestLogValueHidesPassword(t *testing.T) {
	c, err := Load(env("DATABASE_URL", testURL))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "config", c)
	if strings.Contains(b.String(), testPassword) {
		t.Errorf("logged config shows the password: %s", b.String())
	}
	if !strings.Contains(b.String(), "db.internal") {
		t.Errorf("logged config lacks the database host: %s", b.String())
	}
}
