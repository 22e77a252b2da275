package fulcio

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestSpec(t *testing.T) {
	sp := Spec()
	if err := sp.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sp.LDFlags, "sigs.k8s.io/release-utils/version.gitVersion="+Version) {
		t.Errorf("ldflags %q do not set the version", sp.LDFlags)
	}
	if Bin("/x") != "/x/fulcio" {
		t.Errorf("Bin = %q", Bin("/x"))
	}
}

func TestServeArgsKeepListenersApart(t *testing.T) {
	args := ServeArgs("/c.json", "/d", "172.17.0.1", 5010)
	flag := func(name string) string {
		i := slices.Index(args, name)
		if i < 0 || i+1 >= len(args) {
			t.Fatalf("no %s in %q", name, args)
		}
		return args[i+1]
	}
	ports := []string{flag("--port"), flag("--grpc-port"), flag("--metrics-port")}
	if ports[0] != "5010" || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Errorf("ports %q: want 5010 and two others", ports)
	}
	if flag("--legacy-unix-domain-socket") != "/d/legacy.sock" || flag("--ca") != "ephemeralca" || flag("--ct-log-url") != "" {
		t.Errorf("args %q", args)
	}
}

func TestConfigTrustsTheIssuer(t *testing.T) {
	data, err := Config("http://127.0.0.1:4000")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		OIDCIssuers      map[string]struct{ IssuerURL, ClientID, Type, CIProvider string }
		CIIssuerMetadata map[string]struct{ SubjectAlternativeNameTemplate string }
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	iss := cfg.OIDCIssuers["http://127.0.0.1:4000"]
	if iss.IssuerURL != "http://127.0.0.1:4000" || iss.ClientID != "sigstore" {
		t.Errorf("issuer %+v", iss)
	}
	if cfg.CIIssuerMetadata[iss.CIProvider].SubjectAlternativeNameTemplate == "" {
		t.Errorf("no identity template for provider %q", iss.CIProvider)
	}
}
