package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-ci/gantry/app/internal/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestObserveRequest(t *testing.T) {
	m := metrics.New()
	requests := []struct {
		method, route string
		status        int
	}{
		{"GET", "/health", 200},
		{"GET", "/health", 200},
		{"GET", "/health", 503},
		{"GET", "unmatched", 404},
	}
	for _, r := range requests {
		m.ObserveRequest(r.method, r.route, r.status, 3*time.Millisecond)
	}
	body := scrape(t, m)
	for _, want := range []string{
		`http_requests_total{method="GET",route="/health",status="200"} 2`,
		`http_requests_total{method="GET",route="/health",status="503"} 1`,
		`http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`http_request_duration_seconds_bucket{method="GET",route="/health",status="200",le="0.005"} 2`,
		`http_request_duration_seconds_bucket{method="GET",route="/health",status="200",le="0.0025"} 0`,
		"go_goroutines ",
		"process_",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// Made-up methods share one series: a client can't grow the label set.
func TestUnknownMethodsAreBounded(t *testing.T) {
	m := metrics.New()
	for i := range 50 {
		m.ObserveRequest("R"+strconv.Itoa(i), "unmatched", 405, time.Millisecond)
	}
	m.ObserveRequest("DELETE", "unmatched", 405, time.Millisecond)
	body := scrape(t, m)
	if !strings.Contains(body, `http_requests_total{method="other",route="unmatched",status="405"} 50`) {
		t.Errorf("made-up methods are not counted as other:\n%s", grep(body, "http_requests_total"))
	}
	if strings.Contains(body, `method="R1"`) {
		t.Error("a made-up method got its own series")
	}
	if !strings.Contains(body, `http_requests_total{method="DELETE",route="unmatched",status="405"} 1`) {
		t.Error("a real method lost its name")
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestRegistriesAreIsolated would panic with duplicate registration if the
// metrics lived in the global registry.
func TestRegistriesAreIsolated(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.ObserveRequest("GET", "/livez", 200, time.Millisecond)
	if strings.Contains(scrape(t, b), `route="/livez"`) {
		t.Error("a request observed in one registry shows in another")
	}
}

func TestPoolCollector(t *testing.T) {
	// A pool does not connect until used, so no server is needed to read
	// its statistics.
	cfg, err := pgxpool.ParseConfig("postgres://gantry@127.0.0.1:1/gantry?pool_max_conns=7")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	m := metrics.New()
	if err := m.Register(metrics.NewPoolCollector(pool)); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, m)
	for _, want := range []string{
		"pgxpool_max_connections 7",
		"pgxpool_total_connections 0",
		"pgxpool_acquired_connections 0",
		"pgxpool_idle_connections 0",
		"pgxpool_acquires_total 0",
		"# TYPE pgxpool_acquires_total counter",
		"# TYPE pgxpool_idle_connections gauge",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
