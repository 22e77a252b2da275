package standin

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/layer"
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

const (
	// TrivyVersion is the scanner's version: the last release before the
	// March 2026 supply-chain incident, as in images.Pinned.
	TrivyVersion = "0.69.3"
	// TrivyModule is Trivy's source.
	TrivyModule = "github.com/aquasecurity/trivy"
	// TrivySum pins the module's content (also checked by the checksum DB).
	TrivySum = "h1:Q9zHTOiNqPy3/GGn2iJ9nfdzGc5HGiE1i12UNWtzK7U="
)

// TrivyRef is the Trivy stand-in.
const TrivyRef = Repo + "trivy:" + TrivyVersion

// TrivySpec is the build of the trivy binary (it needs the jsonv2
// experiment to compile).
func TrivySpec() modbuild.Spec {
	return modbuild.Spec{
		Name:     "trivy",
		Module:   TrivyModule,
		Version:  "v" + TrivyVersion,
		Sum:      TrivySum,
		Packages: []string{"./cmd/trivy"},
		Output:   "trivy",
		LDFlags:  fmt.Sprintf("-s -w -X %s/pkg/version/app.ver=%s", TrivyModule, TrivyVersion),
		Env:      []string{"CGO_ENABLED=0", "GOEXPERIMENT=jsonv2"},
		// Built for the tests: unoptimized compiles a quarter faster.
		Unoptimized: true,
	}
}

// BuildTrivy returns the cache directory holding the trivy binary.
func BuildTrivy(ctx context.Context, s *step.Step, c cache.Dir) (string, error) {
	return modbuild.Build(ctx, s, c, TrivySpec())
}

// TrivyConfig runs trivy as root (it writes its cache under $HOME).
func TrivyConfig() v1.Config {
	return v1.Config{
		Entrypoint: []string{"trivy"},
		Env:        []string{DefaultPath, "HOME=/root", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		WorkingDir: "/",
	}
}

// Trivy assembles the Trivy stand-in: the static base layer (CA bundle,
// /tmp) and the binary from binDir.
func Trivy(c cache.Dir, static v1.Layer, binDir string) (v1.Image, error) {
	dest := c.Path("layers", "trivy-bin-"+filepath.Base(binDir)+".tar.gz")
	bin, err := layer.Cached(dest, func() ([]layer.File, error) {
		return []layer.File{layer.HostFile("usr/local/bin/trivy", 0o755, filepath.Join(binDir, "trivy"))}, nil
	})
	if err != nil {
		return nil, err
	}
	cache.Prune(filepath.Dir(dest), "trivy-bin-", filepath.Base(dest))
	return layer.Image("amd64", TrivyConfig(),
		layer.Part{Layer: static, Why: "static base: CA bundle, tzdata, /tmp"},
		layer.Part{Layer: bin, Why: "trivy " + TrivyVersion + " built from " + TrivyModule + " (" + strings.Join(TrivySpec().Env, " ") + ")"},
	)
}
