// Package fulcio provides Sigstore's certificate authority, built from its
// module at a pinned version, for the end-to-end tests of keyless signing:
// a Fulcio with an ephemeral CA that certifies the tokens of a local OIDC
// issuer shaped like GitHub Actions'. There is no CT log and no Rekor on
// the bed, so its certificates carry no SCT and its signatures no
// transparency-log entry.
package fulcio

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

const (
	// Version of Fulcio.
	Version = "v1.8.1"
	// Module is Fulcio's source; its server is the root package.
	Module = "github.com/sigstore/fulcio"
)

// Spec is the build of the fulcio binary.
func Spec() modbuild.Spec {
	return modbuild.Tool("fulcio", Module, Version, ".", "fulcio", modbuild.ReleaseUtilsVersionVar, Version)
}

// Build returns the cache directory holding the built fulcio binary. A
// fresh build must say it is Version, else it is removed again.
func Build(ctx context.Context, s *step.Step, c cache.Dir) (string, error) {
	return modbuild.BuildReleased(ctx, s, c, Spec(), "fulcio")
}

// Bin is the fulcio binary in the build's directory.
func Bin(binDir string) string { return filepath.Join(binDir, "fulcio") }

// BinVersion reports the version the binary at path prints.
func BinVersion(ctx context.Context, path string) (string, error) {
	return modbuild.GitVersion(ctx, path)
}

// GitHubProvider is Fulcio's name for GitHub Actions' claims mapping.
const GitHubProvider = "github-workflow"

// Config is a Fulcio configuration that trusts one OIDC issuer for GitHub
// Actions tokens, with the claim-to-extension mapping of Sigstore's public
// instance (config/identity/config.yaml of the module), but for issuer.
func Config(issuer string) ([]byte, error) {
	type oidcIssuer struct {
		IssuerURL, ClientID, Type, CIProvider string
	}
	type metadata struct {
		DefaultTemplateValues          map[string]string
		ExtensionTemplates             map[string]string
		SubjectAlternativeNameTemplate string
	}
	cfg := struct {
		OIDCIssuers      map[string]oidcIssuer
		CIIssuerMetadata map[string]metadata
	}{
		OIDCIssuers: map[string]oidcIssuer{
			issuer: {IssuerURL: issuer, ClientID: "sigstore", Type: "ci-provider", CIProvider: GitHubProvider},
		},
		CIIssuerMetadata: map[string]metadata{GitHubProvider: {
			DefaultTemplateValues: map[string]string{"url": "https://github.com"},
			// Fulcio's certificate.Extensions, by their JSON names.
			ExtensionTemplates: map[string]string{
				"GithubWorkflowTrigger":               "event_name",
				"GithubWorkflowSHA":                   "sha",
				"GithubWorkflowName":                  "workflow",
				"GithubWorkflowRepository":            "repository",
				"GithubWorkflowRef":                   "ref",
				"BuildSignerURI":                      "{{ .url }}/{{ .job_workflow_ref }}",
				"BuildSignerDigest":                   "job_workflow_sha",
				"RunnerEnvironment":                   "runner_environment",
				"SourceRepositoryURI":                 "{{ .url }}/{{ .repository }}",
				"SourceRepositoryDigest":              "sha",
				"SourceRepositoryRef":                 "ref",
				"SourceRepositoryIdentifier":          "repository_id",
				"SourceRepositoryOwnerURI":            "{{ .url }}/{{ .repository_owner }}",
				"SourceRepositoryOwnerIdentifier":     "repository_owner_id",
				"BuildConfigURI":                      "{{ .url }}/{{ .workflow_ref }}",
				"BuildConfigDigest":                   "workflow_sha",
				"BuildTrigger":                        "event_name",
				"RunInvocationURI":                    "{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id }}/attempts/{{ .run_attempt }}",
				"SourceRepositoryVisibilityAtSigning": "repository_visibility",
			},
			SubjectAlternativeNameTemplate: "{{ .url }}/{{ .job_workflow_ref }}",
		}},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// ServeArgs are the arguments of `fulcio serve` with an ephemeral CA, no
// CT log, HTTP on host:port and its other listeners (gRPC, metrics, the
// legacy socket) on the ports after it and in dir, so that one Fulcio
// per test does not collide with another.
func ServeArgs(configPath, dir, host string, port int) []string {
	return []string{"serve", "--ca", "ephemeralca", "--ct-log-url", "",
		"--config-path", configPath, "--log_type", "prod",
		"--host", host, "--port", fmt.Sprint(port),
		"--grpc-host", host, "--grpc-port", fmt.Sprint(port + 1),
		"--metrics-port", fmt.Sprint(port + 2),
		"--legacy-unix-domain-socket", filepath.Join(dir, "legacy.sock")}
}
