// Package daggerbuild builds the Dagger CLI and engine binaries from the
// module github.com/dagger/dagger at the version of the Go SDK the pipeline
// uses. The module zip lacks two nested modules its go.mod replaces: the
// SDK (./sdk/go, copied in from dagger.io/dagger) and engine/distconsts
// (written here with the constants the engine code uses at that version).
package daggerbuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

const (
	// Version of the engine and CLI; keep equal to dagger.io/dagger in ci/go.mod.
	Version = "v0.19.10"
	// Module is the engine and CLI source.
	Module = "github.com/dagger/dagger"
	// ModuleSum is the hash of Module@Version as served by the proxy (the
	// checksum database does not know this version).
	ModuleSum = "h1:9/UfBZUc7Bx5bcEZT5PlgPQDbkojzO0/4E7cn+/PEAk="
	// SDKModule is the Go SDK, which the engine module replaces with ./sdk/go.
	SDKModule = "dagger.io/dagger"
	// SDKSum is the hash of SDKModule@Version.
	SDKSum = "h1:farO4CggSoWCId92QeZWKpP5mY9YwsVhNYuUzpqsKqw="
)

// Where prepare puts the modules the engine's go.mod replaces with
// directories the module zip lacks.
const (
	sdkDir        = "sdk/go"
	distconstsDir = "engine/distconsts"
)

// Binaries are the outputs, named after their package directories.
var Binaries = []string{"engine", "dagger", "dialstdio", "dnsname", "init"}

// distconsts are the constants of github.com/dagger/dagger/engine/distconsts
// at Version (a test checks them against the uses in the engine source).
var distconsts = map[string]string{
	"EngineContainerName":                `"dagger-engine.dev"`,
	"DefaultEngineSockAddr":              `"unix:///run/dagger/engine.sock"`,
	"RuncPath":                           `"/usr/local/bin/runc"`,
	"DaggerInitPath":                     `"/usr/local/bin/dagger-init"`,
	"EngineDefaultStateDir":              `"/var/lib/dagger"`,
	"EngineContainerBuiltinContentDir":   `"/usr/local/share/dagger/content"`,
	"GoSDKManifestDigestEnvName":         `"DAGGER_GO_SDK_MANIFEST_DIGEST"`,
	"PythonSDKManifestDigestEnvName":     `"DAGGER_PYTHON_SDK_MANIFEST_DIGEST"`,
	"TypescriptSDKManifestDigestEnvName": `"DAGGER_TYPESCRIPT_SDK_MANIFEST_DIGEST"`,
	"AlpineVersion":                      `"3.22.1"`,
	"AlpineImage":                        `"alpine:" + AlpineVersion`,
	"GolangVersion":                      `"1.25.5"`,
	"GolangImage":                        `"golang:" + GolangVersion + "-alpine"`,
	"BusyboxVersion":                     `"1.37.0"`,
	"BusyboxImage":                       `"busybox:" + BusyboxVersion`,
	"OCIVersionAnnotation":               `"org.opencontainers.image.version"`,
	"EngineCustomCACertsDir":             `"/usr/local/share/ca-certificates"`,
}

// DistconstsSource renders the distconsts package.
func DistconstsSource() string {
	names := make([]string, 0, len(distconsts))
	for n := range distconsts {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("// Code written by Gantry's test bed: the constants of engine/distconsts at " + Version + ".\n\n")
	b.WriteString("package distconsts\n\nconst (\n")
	for _, n := range names {
		fmt.Fprintf(&b, "\t%s = %s\n", n, distconsts[n])
	}
	b.WriteString(")\n")
	return b.String()
}

// DistconstsGoMod is the nested module's go.mod.
const DistconstsGoMod = "module github.com/dagger/dagger/engine/distconsts\n\ngo 1.24\n"

// Spec is the build of the CLI and engine binaries.
func Spec() modbuild.Spec {
	ldflags := fmt.Sprintf("-s -w -X %[1]s/engine.Version=%[2]s -X %[1]s/engine.Tag=%[2]s", Module, Version)
	return modbuild.Spec{
		Name:    "dagger",
		Module:  Module,
		Version: Version,
		Sum:     ModuleSum,
		NoSumDB: true,
		Packages: []string{
			"./cmd/engine", "./cmd/dagger", "./cmd/dialstdio", "./cmd/dnsname", "./cmd/init",
		},
		Tags:       []string{"dfexcludepatterns", "dfparents"},
		LDFlags:    ldflags,
		Env:        []string{"CGO_ENABLED=0"},
		Prepare:    prepare,
		PrepareKey: cache.Key(SDKModule, SDKSum, DistconstsSource(), DistconstsGoMod),
	}
}

// prepare puts the SDK at sdkDir and writes distconstsDir.
func prepare(ctx context.Context, s *step.Step, src string) error {
	sdk, err := modbuild.Fetch(ctx, s, SDKModule, Version, SDKSum, false)
	if err != nil {
		return err
	}
	if err := modbuild.CopyModule(ctx, s, sdk.Dir, filepath.Join(src, filepath.FromSlash(sdkDir))); err != nil {
		return err
	}
	dc := filepath.Join(src, filepath.FromSlash(distconstsDir))
	if err := os.RemoveAll(dc); err != nil {
		return err
	}
	if err := os.MkdirAll(dc, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dc, "go.mod"), []byte(DistconstsGoMod), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dc, "consts.go"), []byte(DistconstsSource()), 0o644)
}

// Build returns the directory holding the built binaries.
func Build(ctx context.Context, s *step.Step, c cache.Dir) (string, error) {
	return modbuild.Build(ctx, s, c, Spec())
}

// CLI is the path of the dagger CLI in a build directory.
func CLI(binDir string) string { return filepath.Join(binDir, "dagger") }
