package registry

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	open := Registry{Addr: "172.17.0.1:5000"}.Config("/s/storage", "/s/htpasswd")
	for _, want := range []string{"rootdirectory: /s/storage", "addr: 172.17.0.1:5000", "delete:\n    enabled: true"} {
		if !strings.Contains(open, want) {
			t.Errorf("config lacks %q:\n%s", want, open)
		}
	}
	if strings.Contains(open, "htpasswd") {
		t.Errorf("open registry config has auth:\n%s", open)
	}
	auth := Registry{Addr: "172.17.0.1:5001", User: "gantry", Password: "x"}.Config("/s", "/s/htpasswd")
	if !strings.Contains(auth, "htpasswd:\n    realm: gantry-testbed\n    path: /s/htpasswd") {
		t.Errorf("auth registry config lacks htpasswd:\n%s", auth)
	}
	// Like GHCR: token auth, deletes refused.
	ghcr := Registry{Addr: "127.0.0.1:5100", NoDelete: true, User: "ignored",
		Token: &TokenAuth{Realm: "http://172.17.0.1:5008/token", Service: "svc", Issuer: "iss", RootPEM: "/s/root.pem"}}.Config("/s", "/s/htpasswd")
	for _, want := range []string{"delete:\n    enabled: false", "token:\n    realm: http://172.17.0.1:5008/token\n    service: svc\n    issuer: iss\n    rootcertbundle: /s/root.pem"} {
		if !strings.Contains(ghcr, want) {
			t.Errorf("GHCR-like config lacks %q:\n%s", want, ghcr)
		}
	}
	if strings.Contains(ghcr, "htpasswd") {
		t.Errorf("a token-auth config has htpasswd too:\n%s", ghcr)
	}
}

func TestReady(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		user   string
		ok     bool
	}{
		{"open answers 200", 200, "", true},
		{"auth answers 401", 401, "gantry", true},
		{"open must not ask for auth", 401, "", false},
		{"auth must ask for auth", 200, "gantry", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v2/" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
			err := Registry{Addr: net.JoinHostPort(host, port), User: tt.user}.Ready(context.Background())
			if (err == nil) != tt.ok {
				t.Errorf("Ready = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
