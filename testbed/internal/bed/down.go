package bed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/testbed/internal/bgproc"
	"github.com/gantry-ci/gantry/testbed/internal/dockercli"
	"github.com/gantry-ci/gantry/testbed/internal/dockerd"
	"github.com/gantry-ci/gantry/testbed/internal/engine"
	"github.com/gantry-ci/gantry/testbed/internal/standin"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// Down stops and removes what the bed started: its labelled containers,
// volumes and networks, its registry processes, and dockerd if the bed
// started it; then its state directory. The cache stays unless purge, in
// which case the bed's images are removed from Docker and the cache
// directory is deleted too.
func (b *Bed) Down(ctx context.Context, purge bool) error {
	start := time.Now()
	unlock, err := b.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	rep := DownReport{StateDir: string(b.state)}
	var errs []error

	if _, err := dockerd.Version(ctx); err == nil {
		err := b.run.Run(ctx, "down-docker", func(ctx context.Context, s *step.Step) error {
			for _, kind := range []dockercli.Kind{dockercli.Containers, dockercli.Volumes, dockercli.Networks} {
				names, err := dockercli.Labelled(ctx, kind)
				if err != nil {
					return err
				}
				if len(names) == 0 {
					continue
				}
				s.Doing("removing %ss %s", kind, strings.Join(names, " "))
				args := map[dockercli.Kind][]string{
					dockercli.Containers: {"rm", "-f", "-v"},
					dockercli.Volumes:    {"volume", "rm", "-f"},
					dockercli.Networks:   {"network", "rm"},
				}[kind]
				if err := s.Run(ctx, "docker", append(args, names...)...); err != nil {
					return err
				}
				switch kind {
				case dockercli.Containers:
					rep.Containers = names
				case dockercli.Volumes:
					rep.Volumes = names
				case dockercli.Networks:
					rep.Networks = names
				}
			}
			if purge {
				refs := b.loadedImages(ctx)
				if len(refs) > 0 {
					s.Doing("removing images %s", strings.Join(refs, " "))
					if err := s.Run(ctx, "docker", append([]string{"image", "rm", "-f"}, refs...)...); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	} else {
		b.run.Printf("[down-docker] no Docker engine answers: no containers or volumes to remove")
	}

	err = b.run.Run(ctx, "down-processes", func(ctx context.Context, s *step.Step) error {
		for _, name := range b.processNames() {
			rec, ok, err := bgproc.Read(b.state.PIDFile(name))
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			rep.Processes = append(rep.Processes, name+" "+rec.String())
			if !rec.Alive() {
				s.Logf("%s (pid %d) already gone", name, rec.PID)
				continue
			}
			s.Doing("stopping %s (pid %d)", name, rec.PID)
			grace := 15 * time.Second
			if name == dockerd.PIDName {
				grace = 60 * time.Second
				rep.StoppedDockerd = true
			}
			if err := rec.Stop(ctx, grace); err != nil {
				return fmt.Errorf("stopping %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}

	if len(errs) == 0 {
		if err := os.RemoveAll(string(b.state)); err != nil {
			errs = append(errs, err)
		}
	}
	rep.Time = time.Now().UTC().Format(time.RFC3339)
	if purge && len(errs) == 0 {
		b.run.Printf("[down] removing the cache %s", b.cache)
		if err := os.RemoveAll(string(b.cache)); err != nil {
			errs = append(errs, err)
		}
	} else if data, err := json.MarshalIndent(rep, "", "  "); err == nil {
		if err := os.WriteFile(ReportPath(string(b.cache)), append(data, '\n'), 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b.run.Printf("test bed down in %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// loadedImages lists the bed's images in Docker (for --purge).
func (b *Bed) loadedImages(ctx context.Context) []string {
	out, err := exec.CommandContext(ctx, "docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").Output()
	if err != nil {
		return nil
	}
	var refs []string
	for _, ref := range strings.Fields(string(out)) {
		if ref == engine.Image || strings.HasPrefix(ref, Registry+"/"+standin.Repo) {
			refs = append(refs, ref)
		}
	}
	return refs
}
