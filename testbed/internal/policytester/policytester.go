// Package policytester provides policy-controller's policy-tester, built
// from its module: the offline evaluator of a ClusterImagePolicy (the
// admission policy of sigstore's policy-controller) against an image, for
// the end-to-end test of the admission policy docs/admission.md documents.
package policytester

import (
	"context"
	"path/filepath"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

const (
	// Version of policy-controller (the newest the Go module proxy served
	// on 2026-12-05), and Module its source.
	Version = "v0.13.0"
	Module  = "github.com/sigstore/policy-controller"
)

// Spec is the build of ./cmd/tester.
func Spec() modbuild.Spec {
	return modbuild.Tool("policy-tester", Module, Version, "./cmd/tester", "policy-tester", modbuild.ReleaseUtilsVersionVar, Version)
}

// Build returns the cache directory holding policy-tester.
func Build(ctx context.Context, s *step.Step, c cache.Dir) (string, error) {
	return modbuild.Build(ctx, s, c, Spec())
}

// Bin is policy-tester in the build's directory.
func Bin(dir string) string { return filepath.Join(dir, "policy-tester") }
