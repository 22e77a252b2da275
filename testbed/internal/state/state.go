// Package state is the running test bed's record on disk: the PID files of
// the processes it started, registry storage, the generated registry
// password, and the two files the pipeline reads, the env file (shell
// exports) and the image-set override (images.json). `down` removes it all.
package state

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Label marks every Docker object the bed creates.
const (
	Label      = "io.gantry.testbed"
	LabelValue = "1"
)

// Dir is the state directory.
type Dir string

// Path joins elem onto the state dir.
func (d Dir) Path(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}

// PIDFile is where the record of the process called name is kept.
func (d Dir) PIDFile(name string) string { return d.Path("pids", name+".pid") }

// EnvFile holds the shell export lines.
func (d Dir) EnvFile() string { return d.Path("env") }

// ImagesFile is the image-set override for the pipeline.
func (d Dir) ImagesFile() string { return d.Path("images.json") }

// Init creates the state directory and its subdirectories.
func (d Dir) Init() error {
	return os.MkdirAll(d.Path("pids"), 0o755)
}

// Password returns the auth registry's password, generating it on first
// use: one random password per bed.
func (d Dir) Password() (string, error) {
	p := d.Path("auth-password")
	if data, err := os.ReadFile(p); err == nil {
		if pw := strings.TrimSpace(string(data)); pw != "" {
			return pw, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(b)
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
		return "", err
	}
	return pw, nil
}

// Env is what the pipeline and its tests need to use the bed.
type Env struct {
	CLIBin        string // _EXPERIMENTAL_DAGGER_CLI_BIN
	RunnerHost    string // _EXPERIMENTAL_DAGGER_RUNNER_HOST
	EngineTCP     string // TESTBED_ENGINE_TCP: the same engine, on tcp://
	Images        string // GANTRY_IMAGES
	Registry      string // TESTBED_REGISTRY
	AuthRegistry  string // TESTBED_AUTH_REGISTRY
	AuthUsername  string // TESTBED_AUTH_USERNAME
	AuthPassword  string // TESTBED_AUTH_PASSWORD
	GoImage       string // GO_IMAGE
	RuntimeImage  string // RUNTIME_IMAGE
	PostgresImage string // POSTGRES_IMAGE
	NodeImage     string // TESTBED_NODE_IMAGE: Node.js, pinned by digest
	CosignBin     string // TESTBED_COSIGN: cosign v2
	Cosign3Bin    string // TESTBED_COSIGN3: cosign v3
	GHBin         string // TESTBED_GH: the GitHub CLI
	PolicyTester  string // TESTBED_POLICY_TESTER: policy-controller's policy-tester
	FulcioBin     string // TESTBED_FULCIO
	RekorBin      string // TESTBED_REKOR: rekor-server
	TrillianDir   string // TESTBED_TRILLIAN: its log server, log signer and PostgreSQL schema
}

// Vars returns the variables in the order they are printed.
func (e Env) Vars() [][2]string {
	return [][2]string{
		{"_EXPERIMENTAL_DAGGER_CLI_BIN", e.CLIBin},
		{"_EXPERIMENTAL_DAGGER_RUNNER_HOST", e.RunnerHost},
		{"DO_NOT_TRACK", "1"},
		{"GANTRY_IMAGES", e.Images},
		{"TESTBED_REGISTRY", e.Registry},
		{"TESTBED_AUTH_REGISTRY", e.AuthRegistry},
		{"TESTBED_AUTH_USERNAME", e.AuthUsername},
		{"TESTBED_AUTH_PASSWORD", e.AuthPassword},
		{"GO_IMAGE", e.GoImage},
		{"RUNTIME_IMAGE", e.RuntimeImage},
		{"POSTGRES_IMAGE", e.PostgresImage},
		{"TESTBED_NODE_IMAGE", e.NodeImage},
		{"TESTBED_COSIGN", e.CosignBin},
		{"TESTBED_COSIGN3", e.Cosign3Bin},
		{"TESTBED_GH", e.GHBin},
		{"TESTBED_POLICY_TESTER", e.PolicyTester},
		{"TESTBED_FULCIO", e.FulcioBin},
		{"TESTBED_REKOR", e.RekorBin},
		{"TESTBED_TRILLIAN", e.TrillianDir},
		{"TESTBED_ENGINE_TCP", e.EngineTCP},
	}
}

// Validate reports the first empty variable.
func (e Env) Validate() error {
	for _, v := range e.Vars() {
		if v[1] == "" {
			return fmt.Errorf("%s is empty", v[0])
		}
	}
	return nil
}

// Render returns the export lines, one per variable, shell-quoted.
func (e Env) Render() string {
	var b strings.Builder
	for _, v := range e.Vars() {
		fmt.Fprintf(&b, "export %s=%s\n", v[0], ShellQuote(v[1]))
	}
	return b.String()
}

// ShellQuote quotes s for a POSIX shell when it needs it.
func ShellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("@%+=:,./_-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ParseEnv reads export lines written by Render back into an Env.
func ParseEnv(text string) (Env, error) {
	vals := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rest, ok := strings.CutPrefix(line, "export ")
		if !ok {
			return Env{}, fmt.Errorf("unexpected line %q", line)
		}
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			return Env{}, fmt.Errorf("unexpected line %q", line)
		}
		uv, err := shellUnquote(v)
		if err != nil {
			return Env{}, fmt.Errorf("%s: %w", k, err)
		}
		vals[k] = uv
	}
	e := Env{
		CLIBin: vals["_EXPERIMENTAL_DAGGER_CLI_BIN"], RunnerHost: vals["_EXPERIMENTAL_DAGGER_RUNNER_HOST"],
		Images: vals["GANTRY_IMAGES"], Registry: vals["TESTBED_REGISTRY"],
		AuthRegistry: vals["TESTBED_AUTH_REGISTRY"], AuthUsername: vals["TESTBED_AUTH_USERNAME"],
		AuthPassword: vals["TESTBED_AUTH_PASSWORD"], GoImage: vals["GO_IMAGE"],
		RuntimeImage: vals["RUNTIME_IMAGE"], PostgresImage: vals["POSTGRES_IMAGE"], NodeImage: vals["TESTBED_NODE_IMAGE"],
		CosignBin: vals["TESTBED_COSIGN"], Cosign3Bin: vals["TESTBED_COSIGN3"], GHBin: vals["TESTBED_GH"], PolicyTester: vals["TESTBED_POLICY_TESTER"], FulcioBin: vals["TESTBED_FULCIO"], EngineTCP: vals["TESTBED_ENGINE_TCP"],
		RekorBin: vals["TESTBED_REKOR"], TrillianDir: vals["TESTBED_TRILLIAN"],
	}
	return e, e.Validate()
}

func shellUnquote(v string) (string, error) {
	if !strings.HasPrefix(v, "'") {
		return v, nil
	}
	var b strings.Builder
	for len(v) > 0 {
		if !strings.HasPrefix(v, "'") {
			if strings.HasPrefix(v, `\'`) {
				b.WriteByte('\'')
				v = v[2:]
				continue
			}
			return "", fmt.Errorf("unsupported quoting in %q", v)
		}
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", fmt.Errorf("unterminated quote in %q", v)
		}
		b.WriteString(v[1 : 1+end])
		v = v[end+2:]
	}
	return b.String(), nil
}

// WriteEnv writes the env file.
func (d Dir) WriteEnv(e Env) error {
	if err := e.Validate(); err != nil {
		return err
	}
	return writeAtomic(d.EnvFile(), []byte(e.Render()), 0o600)
}

// ReadEnv reads the env file.
func (d Dir) ReadEnv() (Env, error) {
	data, err := os.ReadFile(d.EnvFile())
	if err != nil {
		return Env{}, err
	}
	return ParseEnv(string(data))
}

// Images is the image-set override the bed writes for the pipeline
// (GANTRY_IMAGES): the JSON format docs/pipeline.md documents for the pipeline's
// --images file. The bed keeps its own copy of the format so that it does
// not import the pipeline; every e2e test feeds this file to the real
// pipeline, which is what checks that the two agree.
type Images struct {
	Go                 string   `json:"go"`
	Runtime            string   `json:"runtime"`
	Postgres           string   `json:"postgres"`
	Trivy              string   `json:"trivy"`
	Probe              string   `json:"probe"`
	TrivyDBRepository  string   `json:"trivy_db_repository,omitempty"`
	InsecureRegistries []string `json:"insecure_registries,omitempty"`
	// Project replaces a project's own images (gantry.Images) by name:
	// the e2e projects' stand-ins.
	Project map[string]string `json:"project,omitempty"`
}

// Validate reports the first image that is empty or malformed. The bed
// sets every image, so unlike the pipeline's overrides none may be left out.
func (s Images) Validate() error {
	for _, f := range []struct{ name, ref string }{
		{"go", s.Go}, {"runtime", s.Runtime}, {"postgres", s.Postgres},
		{"trivy", s.Trivy}, {"probe", s.Probe},
	} {
		if f.ref == "" {
			return fmt.Errorf("%q is empty", f.name)
		}
		if strings.ContainsAny(f.ref, " \t\n") {
			return fmt.Errorf("%q: %q contains whitespace", f.name, f.ref)
		}
	}
	return nil
}

// Marshal renders the image-set file, with the registries sorted.
func (s Images) Marshal() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s.InsecureRegistries = slices.Sorted(slices.Values(s.InsecureRegistries))
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// ReadImages reads an image-set file, rejecting fields the format lacks (as
// the pipeline does) and images left out.
func ReadImages(path string) (Images, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Images{}, fmt.Errorf("reading image set %s: %w", path, err)
	}
	var s Images
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Images{}, fmt.Errorf("parsing image set %s: %w", path, err)
	}
	if err := s.Validate(); err != nil {
		return Images{}, fmt.Errorf("image set %s: %w", path, err)
	}
	return s, nil
}

// WriteImages writes images.json.
func (d Dir) WriteImages(s Images) error {
	data, err := s.Marshal()
	if err != nil {
		return err
	}
	return writeAtomic(d.ImagesFile(), data, 0o644)
}

func writeAtomic(p string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
