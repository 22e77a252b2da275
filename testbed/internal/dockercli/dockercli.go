// Package dockercli is the bed's small vocabulary over the docker CLI:
// loading images built with go-containerregistry, and finding the objects
// the bed labelled.
package dockercli

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/gantry-ci/gantry/testbed/internal/state"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// ImageID returns the ID of the local image ref, or "" when there is none.
func ImageID(ctx context.Context, ref string) string {
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", ref).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// EnsureLoaded loads img into the Docker engine under the tag ref unless
// that tag already names an image with img's config digest (the image ID).
// It reports whether it loaded.
func EnsureLoaded(ctx context.Context, s *step.Step, ref string, img v1.Image) (bool, error) {
	cfg, err := img.ConfigName()
	if err != nil {
		return false, err
	}
	if ImageID(ctx, ref) == cfg.String() {
		return false, nil
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return false, fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	s.Doing("docker load %s", ref)
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(tarball.Write(tag, img, pw))
	}()
	cmd := s.Command(ctx, "docker", "load")
	cmd.Stdin = pr
	err = s.Exec(cmd)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return false, err
	}
	if got := ImageID(ctx, ref); got != cfg.String() {
		return false, fmt.Errorf("after docker load, %s is %q, want %s", ref, got, cfg)
	}
	return true, nil
}

// Kind is a kind of Docker object the bed labels.
type Kind string

const (
	Containers Kind = "container"
	Volumes    Kind = "volume"
	Networks   Kind = "network"
)

// Labelled lists the names of the objects of kind carrying the bed's label.
func Labelled(ctx context.Context, kind Kind) ([]string, error) {
	var args []string
	filter := "label=" + state.Label + "=" + state.LabelValue
	switch kind {
	case Containers:
		args = []string{"ps", "-a", "--filter", filter, "--format", "{{.Names}}"}
	case Volumes:
		args = []string{"volume", "ls", "--filter", filter, "--format", "{{.Name}}"}
	case Networks:
		args = []string{"network", "ls", "--filter", filter, "--format", "{{.Name}}"}
	default:
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.Fields(string(out)), nil
}

// Inspect returns one field of a container (a Go template), or "" if the
// container does not exist.
func Inspect(ctx context.Context, container, format string) string {
	out, err := exec.CommandContext(ctx, "docker", "container", "inspect", "--format", format, container).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
