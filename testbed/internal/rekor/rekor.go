// Package rekor provides Sigstore's transparency log for the end-to-end
// tests of keyless signing: rekor-server on a Trillian log (log server and
// log signer) stored in PostgreSQL, each built from its module at a pinned
// version. Rekor signs its entries with an in-memory key it makes at start,
// and serves only what cosign needs to enter and check a signature (no
// search index, so no Redis).
package rekor

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/modbuild"
	"github.com/gantry-ci/gantry/testbed/internal/step"
)

const (
	// Version of Rekor; TrillianVersion is the Trillian its go.mod requires.
	Version         = "v1.5.4"
	TrillianVersion = "v1.7.3"
	Module          = "github.com/sigstore/rekor"
	TrillianModule  = "github.com/google/trillian"
)

// Schema is the file name of Trillian's PostgreSQL schema in its build.
const Schema = "storage.sql"

// Spec is the build of rekor-server.
func Spec() modbuild.Spec {
	return modbuild.Tool("rekor", Module, Version, "./cmd/rekor-server", "rekor-server", modbuild.ReleaseUtilsVersionVar, Version)
}

// TrillianSpec is the build of Trillian's log server and log signer with
// PostgreSQL storage only (the build tag leaves MySQL, CockroachDB and
// Spanner out), and the schema that storage needs.
func TrillianSpec() modbuild.Spec {
	return modbuild.Spec{
		Name:     "trillian",
		Module:   TrillianModule,
		Version:  TrillianVersion,
		Packages: []string{"./cmd/trillian_log_server", "./cmd/trillian_log_signer"},
		Tags:     []string{"postgresql"},
		Files:    []string{"storage/postgresql/schema/" + Schema},
		LDFlags:  "-s -w",
		Env:      []string{"CGO_ENABLED=0"},
		// Built for the tests: unoptimized compiles a quarter faster.
		Unoptimized: true,
	}
}

// Build returns the cache directory holding rekor-server; a fresh build
// must say it is Version.
func Build(ctx context.Context, s *step.Step, c cache.Dir) (string, error) {
	return modbuild.BuildReleased(ctx, s, c, Spec(), "rekor-server")
}

// BuildTrillian returns the cache directory holding Trillian's binaries
// and schema.
func BuildTrillian(ctx context.Context, s *step.Step, c cache.Dir) (string, error) {
	return modbuild.Build(ctx, s, c, TrillianSpec())
}

// Bin is rekor-server in its build's directory.
func Bin(binDir string) string { return filepath.Join(binDir, "rekor-server") }

// Ports of one log: Rekor's HTTP API at Port, Trillian's on the next four.
type Ports struct{ Rekor, LogRPC, LogHTTP, SignerRPC, SignerHTTP int }

// PortsFrom numbers a log's listeners from base up.
func PortsFrom(base int) Ports {
	return Ports{Rekor: base, LogRPC: base + 1, LogHTTP: base + 2, SignerRPC: base + 3, SignerHTTP: base + 4}
}

// LogServerArgs are trillian_log_server's arguments for the database at
// dbURL, on loopback.
func LogServerArgs(dbURL string, p Ports) []string {
	return append(storageArgs(dbURL),
		"--rpc_endpoint", fmt.Sprintf("127.0.0.1:%d", p.LogRPC),
		"--http_endpoint", fmt.Sprintf("127.0.0.1:%d", p.LogHTTP))
}

// LogSignerArgs are trillian_log_signer's: the only signer, so master of
// every tree without an election, sequencing every 100 ms so that an entry
// is in the log soon after it was added.
func LogSignerArgs(dbURL string, p Ports) []string {
	return append(storageArgs(dbURL), "--force_master", "--sequencer_interval", "100ms",
		"--rpc_endpoint", fmt.Sprintf("127.0.0.1:%d", p.SignerRPC),
		"--http_endpoint", fmt.Sprintf("127.0.0.1:%d", p.SignerHTTP))
}

func storageArgs(dbURL string) []string {
	return []string{"--storage_system", "postgresql", "--quota_system", "postgresql", "--postgresql_uri", dbURL}
}

// ServeArgs are rekor-server's arguments: HTTP on host:port, a tree of
// its own made at start (no --trillian_log_server.tlog_id), an in-memory
// signer, and the API without the search index.
func ServeArgs(host string, p Ports) []string {
	return []string{"serve", "--log_type", "prod",
		"--rekor_server.address", host, "--port", fmt.Sprint(p.Rekor),
		"--trillian_log_server.address", "127.0.0.1", "--trillian_log_server.port", fmt.Sprint(p.LogRPC),
		"--rekor_server.signer", "memory",
		"--enable_retrieve_api=false",
		"--enabled_api_endpoints", "getLogInfo,getPublicKey,getLogProof,createLogEntry,getLogEntryByIndex,getLogEntryByUUID,searchLogQuery"}
}

// DatabaseURL is base (a PostgreSQL URL) with its database replaced by db.
func DatabaseURL(base, db string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("%q is not a postgres:// URL", base)
	}
	u.Path = "/" + db
	return u.String(), nil
}
