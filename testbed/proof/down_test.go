package proof

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/testbed/internal/bed"
	"github.com/gantry-ci/gantry/testbed/internal/bgproc"
	"github.com/gantry-ci/gantry/testbed/internal/cli"
	"github.com/gantry-ci/gantry/testbed/internal/dockercli"
	"github.com/gantry-ci/gantry/testbed/internal/dockerd"
	"github.com/gantry-ci/gantry/testbed/internal/engine"
)

// After `testbed down`, nothing the bed started is left: no labelled
// container, volume or network, none of its recorded processes, nothing
// listening on its registry ports, no state directory. Only meaningful
// right after down, so it runs only with TESTBED_EXPECT_DOWN=1 (ci/test.sh
// runs it last).
func TestDownLeavesNothing(t *testing.T) {
	if os.Getenv("TESTBED_EXPECT_DOWN") != "1" {
		t.Skip("runs only right after `go run ./testbed down`, with TESTBED_EXPECT_DOWN=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cacheDir := cli.DefaultCacheDir()
	data, err := os.ReadFile(bed.ReportPath(cacheDir))
	if err != nil {
		t.Fatalf("down's report: %v", err)
	}
	var rep bed.DownReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("down removed containers %v, volumes %v, stopped %v", rep.Containers, rep.Volumes, rep.Processes)

	if _, err := os.Stat(rep.StateDir); !os.IsNotExist(err) {
		t.Errorf("state dir %s still exists (%v)", rep.StateDir, err)
	}

	for _, p := range rep.Processes {
		name, record, _ := strings.Cut(p, " ")
		rec, err := bgproc.Parse(record)
		if err != nil {
			t.Errorf("report entry %q: %v", p, err)
			continue
		}
		if rec.Alive() {
			t.Errorf("%s (pid %d) still runs", name, rec.PID)
		}
	}
	// No process may still refer to the removed state dir (the registries'
	// config files live there).
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(cmdline), rep.StateDir) {
			t.Errorf("process %s still runs with %q", filepath.Base(filepath.Dir(p)),
				strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	for _, addr := range []string{bed.Registry, bed.AuthRegistry} {
		if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			c.Close()
			t.Errorf("something still listens on %s", addr)
		}
	}

	if _, err := dockerd.Version(ctx); err != nil {
		if !rep.StoppedDockerd {
			t.Logf("no Docker engine answers, and the bed did not stop one: %v", err)
		}
		return // no daemon: no containers or volumes either
	}
	if rep.StoppedDockerd {
		t.Error("down stopped the dockerd the bed started, yet a Docker engine answers")
	}
	for _, kind := range []dockercli.Kind{dockercli.Containers, dockercli.Volumes, dockercli.Networks} {
		names, err := dockercli.Labelled(ctx, kind)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) > 0 {
			t.Errorf("labelled %ss left: %v", kind, names)
		}
	}
	if id := dockercli.Inspect(ctx, engine.Container, "{{.Id}}"); id != "" {
		t.Errorf("engine container %s still exists", engine.Container)
	}
}
