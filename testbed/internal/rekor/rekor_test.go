package rekor

import (
	"slices"
	"strings"
	"testing"
)

func TestSpecs(t *testing.T) {
	for _, sp := range []struct {
		name string
		err  error
	}{{"rekor", Spec().Validate()}, {"trillian", TrillianSpec().Validate()}} {
		if sp.err != nil {
			t.Errorf("%s: %v", sp.name, sp.err)
		}
	}
	if !strings.Contains(Spec().LDFlags, "sigs.k8s.io/release-utils/version.gitVersion="+Version) {
		t.Errorf("ldflags %q do not set the version", Spec().LDFlags)
	}
	if tr := TrillianSpec(); !slices.Contains(tr.Tags, "postgresql") || len(tr.Files) != 1 || !strings.HasSuffix(tr.Files[0], "/"+Schema) {
		t.Errorf("trillian build %+v: want PostgreSQL storage and its schema", tr)
	}
}

func TestListenersApart(t *testing.T) {
	p := PortsFrom(5023)
	flag := func(args []string, name string) string {
		i := slices.Index(args, name)
		if i < 0 || i+1 >= len(args) {
			t.Fatalf("no %s in %q", name, args)
		}
		return args[i+1]
	}
	addrs := []string{
		"172.17.0.1:" + flag(ServeArgs("172.17.0.1", p), "--port"),
		flag(LogServerArgs("postgres://x/y", p), "--rpc_endpoint"),
		flag(LogServerArgs("postgres://x/y", p), "--http_endpoint"),
		flag(LogSignerArgs("postgres://x/y", p), "--rpc_endpoint"),
		flag(LogSignerArgs("postgres://x/y", p), "--http_endpoint"),
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		port := a[strings.LastIndex(a, ":"):]
		if seen[port] {
			t.Errorf("port %s twice in %q", port, addrs)
		}
		seen[port] = true
	}
	if addrs[0] != "172.17.0.1:5023" {
		t.Errorf("rekor listens on %s, want 172.17.0.1:5023", addrs[0])
	}
	// Rekor talks to the log server, not the signer.
	if got := flag(ServeArgs("h", p), "--trillian_log_server.port"); got != flag(LogServerArgs("u", p), "--rpc_endpoint")[len("127.0.0.1:"):] {
		t.Errorf("rekor uses trillian port %s", got)
	}
}

func TestDatabaseURL(t *testing.T) {
	for _, tt := range []struct{ base, want, err string }{
		{base: "postgres://gantry:gantry@127.0.0.1:55432/gantry_test?sslmode=disable",
			want: "postgres://gantry:gantry@127.0.0.1:55432/rekor_1?sslmode=disable"},
		{base: "postgresql://127.0.0.1", want: "postgresql://127.0.0.1/rekor_1"},
		{base: "mysql://127.0.0.1/x", err: "not a postgres:// URL"},
		{base: "::", err: "not a postgres:// URL"},
	} {
		got, err := DatabaseURL(tt.base, "rekor_1")
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("DatabaseURL(%q) = %q, %v; want %q, %q", tt.base, got, err, tt.want, tt.err)
		}
	}
}
