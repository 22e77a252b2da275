package engine

import (
	"strings"
	"testing"
)

func TestTOML(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{
			name: "empty",
			want: "# Written by Gantry's test bed.\n",
		},
		{
			name: "insecure registries sorted",
			cfg:  Config{Insecure: []string{"172.17.0.1:5001", "172.17.0.1:5000"}},
			want: `# Written by Gantry's test bed.

[registry."172.17.0.1:5000"]
  http = true
  insecure = true

[registry."172.17.0.1:5001"]
  http = true
  insecure = true
`,
		},
		{
			name: "air-gapped mirror",
			cfg: Config{
				Insecure: []string{"mirror.internal:5000"},
				Mirrors:  map[string][]string{"docker.io": {"mirror.internal:5000"}},
			},
			want: `# Written by Gantry's test bed.

[registry."docker.io"]
  mirrors = ["mirror.internal:5000"]

[registry."mirror.internal:5000"]
  http = true
  insecure = true
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.TOML(); got != tt.want {
				t.Errorf("TOML() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestBedRegistries(t *testing.T) {
	r := BedRegistries("172.17.0.1")
	if len(r) != 10 || r[0] != "172.17.0.1:5000" || r[9] != "172.17.0.1:5009" {
		t.Errorf("BedRegistries = %v", r)
	}
}

func TestRunArgs(t *testing.T) {
	args := strings.Join(Bed.RunArgs("sha256:abc", "k1"), " ")
	for _, want := range []string{
		"--name gantry-testbed-dagger", "--label io.gantry.testbed=1", "--label io.gantry.testbed.key=k1",
		"--cap-add ALL --cap-drop SYS_RESOURCE", "seccomp=unconfined", "apparmor=unconfined",
		"systempaths=unconfined", "--device-cgroup-rule a *:* rwm", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
		"gantry-testbed-dagger-state:/var/lib/dagger",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("run args lack %q: %s", want, args)
		}
	}
	if strings.Contains(args, "--privileged") || strings.Contains(args, "--network") {
		t.Errorf("run args must not use --privileged or another network: %s", args)
	}
	if !strings.HasSuffix(args, " sha256:abc --addr tcp://0.0.0.0:1234") {
		t.Errorf("the image, then the engine's TCP address, must come last: %s", args)
	}
	if !strings.Contains(args, "-p 127.0.0.1:5030:1234") {
		t.Errorf("the engine's TCP port must be published on loopback only: %s", args)
	}

	// Another instance (an e2e test's fresh engine) serves no TCP.
	other := strings.Join(Instance{Container: "e2e-engine", Volume: "e2e-state"}.RunArgs("sha256:abc", ""), " ")
	for _, want := range []string{"--name e2e-engine", "-v e2e-state:/var/lib/dagger", "--label io.gantry.testbed=1"} {
		if !strings.Contains(other, want) {
			t.Errorf("run args lack %q: %s", want, other)
		}
	}
	if !strings.HasSuffix(other, " sha256:abc") || strings.Contains(other, "-p ") || strings.Contains(other, "--addr") {
		t.Errorf("an instance without TCPAddr must publish no port and end with its image: %s", other)
	}
}

func TestEntrypoint(t *testing.T) {
	if !strings.HasPrefix(Entrypoint, "#!/bin/sh\n") {
		t.Error("entrypoint lacks its shebang")
	}
	if !strings.Contains(Entrypoint, `exec /usr/local/bin/dagger-engine --config /etc/dagger/engine.toml "$@"`) {
		t.Errorf("entrypoint does not exec the engine:\n%s", Entrypoint)
	}
}
