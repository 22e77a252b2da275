package healthcheck

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestURL(t *testing.T) {
	tests := []struct {
		addr, want string
	}{
		{":8080", "http://127.0.0.1:8080/health"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080/health"},
		{"[::]:8080", "http://127.0.0.1:8080/health"},
		{"127.0.0.2:9000", "http://127.0.0.2:9000/health"},
		{"[::1]:9000", "http://[::1]:9000/health"},
		{"localhost:9000", "http://localhost:9000/health"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := URL(tt.addr)
			if err != nil || got != tt.want {
				t.Errorf("URL(%q) = %q, %v; want %q", tt.addr, got, err, tt.want)
			}
		})
	}
	if _, err := URL("8080"); err == nil {
		t.Error("URL(\"8080\") succeeded, want an error")
	}
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		// healthTimeout is patient where the server answers, tiny where
		// it never does, so the probe's own deadline is what ends it.
		healthTimeout time.Duration
		wantErr       string
	}{
		{"healthy", func(w http.ResponseWriter, r *http.Request) {}, 30 * time.Second, ""},
		{"unavailable", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("{\"status\":\"unavailable\"}\n"))
		}, 30 * time.Second, `status 503: {"status":"unavailable"}`},
		{"too slow", func(w http.ResponseWriter, r *http.Request) {
			// Answers 200 only to a probe without a deadline; a
			// minute is far beyond the probe's 1.01 s on any machine.
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
		}, 10 * time.Millisecond, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			err := Probe(context.Background(), srv.URL+"/health", tt.healthTimeout)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Probe: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Probe error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
