package standin

import (
	"github.com/google/go-containerregistry/pkg/v1"

	"github.com/gantry-ci/gantry/testbed/internal/layer"
	"github.com/gantry-ci/gantry/testbed/internal/rootfs"
)

// NodeRef is the Node.js stand-in: Debian's Node.js 18, for the e2e
// project that isn't written in Go (testdata/hello-node).
const NodeRef = Repo + "node:18"

// NodeRootFS is Debian's nodejs with a user node (uid and gid 1000), as
// the official node images have.
var NodeRootFS = rootfs.Spec{
	Name:    "node",
	Include: []string{"nodejs"},
	Post: `
chroot "$ROOTFS" groupadd --gid 1000 node
chroot "$ROOTFS" useradd --uid 1000 --gid node --create-home --shell /bin/sh node
`,
}

// Node assembles the Node.js stand-in on the Debian layer at debianLayer.
func Node(debianLayer string) (v1.Image, error) {
	base, err := layer.Open(debianLayer)
	if err != nil {
		return nil, err
	}
	cfg := v1.Config{Cmd: []string{"node"}, Env: []string{DefaultPath}}
	return layer.Image("amd64", cfg, layer.Part{Layer: base, Why: "debootstrap --variant=minbase --include=nodejs " + rootfs.Suite + "; user node (1000)"})
}
