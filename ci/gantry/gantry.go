// Package gantry is a container-image pipeline as a Go program: it tests,
// builds, smoke-tests, scans, signs, attests and publishes a repository's
// image on Dagger. A repository declares its pipeline in Go, in ci/main.go:
//
//	package main
//
//	import "github.com/gantry-ci/gantry/ci/gantry"
//
//	func main() {
//		gantry.Main(gantry.Project{
//			Image: gantry.Image{Description: "The orders service", Licenses: "Apache-2.0"},
//		})
//	}
//
// and runs it with `go run ./ci`, the same command locally and in GitHub
// Actions (`go run ./ci --help` lists the flags of one run).
package gantry

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gantry-ci/gantry/ci/internal/cli"
	"github.com/gantry-ci/gantry/ci/internal/project"
)

// Project is what a repository declares about its pipeline. Every field's
// zero value is a default, so the zero Project is a valid one.
type Project struct {
	// Image describes the published image.
	Image Image
	// Test is what the test stage runs.
	Test Test
}

// Image describes the published image. Each field is an OCI label
// (org.opencontainers.image.*) that registries show beside the image; an
// empty one is left out.
type Image struct {
	// Title is a short name. Default: the last element of the image's
	// name (--image).
	Title string
	// Description says what the image is, in a sentence.
	Description string
	// Licenses is an SPDX license expression, e.g. "MIT" or
	// "Apache-2.0 OR MIT".
	Licenses string
	// Vendor is who distributes the image.
	Vendor string
	// Documentation is the http(s) address of the image's documentation.
	Documentation string
}

// Test is the test stage: `go vet ./...` and `go test ./...` of each
// module, against a PostgreSQL whose address is in TEST_DATABASE_URL.
type Test struct {
	// GoModules are the directories of the Go modules to test, relative to
	// the repository root. Default: ".", the root module. The flag
	// --test-modules and GANTRY_TEST_MODULES override it for one run.
	GoModules []string
}

// Main runs the pipeline with the process's arguments and environment, and
// exits with its exit code (0 when it passed; the others are in Gantry's
// docs/pipeline.md). A declaration that is wrong exits 2 with one line,
// before the engine is contacted.
func Main(p Project) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, p.declaration(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// declaration is p as the pipeline takes it.
func (p Project) declaration() project.Project {
	return project.Project{
		Title:         p.Image.Title,
		Description:   p.Image.Description,
		Licenses:      p.Image.Licenses,
		Vendor:        p.Image.Vendor,
		Documentation: p.Image.Documentation,
		TestModules:   p.Test.GoModules,
	}
}
