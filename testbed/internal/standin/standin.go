// Package standin assembles the bed's stand-ins for the images the pipeline
// pulls (Go toolchain, distroless-like runtime base, PostgreSQL, Trivy,
// busybox) from Debian packages, the host's Go toolchain and binaries built
// from source, pushes them to the bed's registry and loads some into Docker.
// They are named for what they are (testbed/postgres:15), not dressed up as
// the upstream images.
package standin

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/testbed/internal/layer"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

// Repo is the repository prefix of every stand-in in the bed's registry.
const Repo = "testbed/"

// DefaultPath is PATH in images without anything special.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Pushable is an image or an index.
type Pushable interface {
	Digest() (v1.Hash, error)
}

// Push writes img (a v1.Image or v1.ImageIndex) to ref on a plain-HTTP
// registry, unless ref already names it, and returns ref pinned by digest
// (REPO:TAG@sha256:…) and whether it pushed.
func Push(ctx context.Context, s *step.Step, ref string, img Pushable) (string, bool, error) {
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return "", false, fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	dig, err := img.Digest()
	if err != nil {
		return "", false, err
	}
	pinned := ref + "@" + dig.String()
	if desc, err := remote.Head(tag, remote.WithContext(ctx)); err == nil && desc.Digest == dig {
		s.Logf("%s is already %s", ref, dig)
		return pinned, false, nil
	}
	s.Doing("pushing %s", ref)
	switch x := img.(type) {
	case v1.ImageIndex:
		err = remote.WriteIndex(tag, x, remote.WithContext(ctx))
	case v1.Image:
		err = remote.Write(tag, x, remote.WithContext(ctx))
	default:
		err = fmt.Errorf("cannot push %T", img)
	}
	if err != nil {
		return "", false, fmt.Errorf("pushing %s: %w", ref, err)
	}
	return pinned, true, nil
}

// TagOf strips the digest from a pinned reference.
func TagOf(pinned string) string {
	ref, _, _ := strings.Cut(pinned, "@")
	return ref
}

// users renders /etc/passwd and /etc/group with root, nobody and an
// optional extra account.
func users(rootShell, extraName string, extraID int, home string) []layer.File {
	passwd := "root:x:0:0:root:/root:" + rootShell + "\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
	group := "root:x:0:\nnobody:x:65534:\n"
	if extraName != "" {
		passwd += fmt.Sprintf("%[1]s:x:%[2]d:%[2]d:%[1]s:%[3]s:/sbin/nologin\n", extraName, extraID, home)
		group += fmt.Sprintf("%s:x:%d:\n", extraName, extraID)
	}
	return []layer.File{
		layer.Text("etc/passwd", 0o644, passwd),
		layer.Text("etc/group", 0o644, group),
	}
}
