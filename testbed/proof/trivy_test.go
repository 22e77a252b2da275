package proof

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"dagger.io/dagger"
)

// scanExitCode is what trivy exits with when it finds something at the
// requested severities: distinct from its crash status 1.
const scanExitCode = 42

// goProgram is a tiny main depending on one module version.
type goProgram struct {
	name, module, version, imports, use string
}

// programs, by what Trivy should find in them (see trivydb.Advisories).
var (
	textOld   = goProgram{"text-old", "golang.org/x/text", "v0.3.6", "golang.org/x/text/language", "language.Make(\"en\")"}
	cryptoOld = goProgram{"crypto-old", "golang.org/x/crypto", "v0.30.0", "golang.org/x/crypto/ssh", "ssh.CertAlgoRSAv01"}
	netOld    = goProgram{"net-old", "golang.org/x/net", "v0.12.0", "golang.org/x/net/html", "html.EscapeString(\"<\")"}
	textNew   = goProgram{"text-new", "golang.org/x/text", "v0.21.0", "golang.org/x/text/language", "language.Make(\"en\")"}
)

func (p goProgram) files(dir *dagger.Directory) *dagger.Directory {
	return dir.
		WithNewFile(p.name+"/go.mod", "module proof/"+p.name+"\n\ngo 1.22\n\nrequire "+p.module+" "+p.version+"\n").
		WithNewFile(p.name+"/main.go", "package main\n\nimport (\n\t\"fmt\"\n\n\t\""+p.imports+"\"\n)\n\nfunc main() { fmt.Println("+p.use+") }\n")
}

// goEnv passes the host's module proxy settings into the build container.
func goEnv(c *dagger.Container) *dagger.Container {
	for _, k := range []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY"} {
		if v := os.Getenv(k); v != "" {
			c = c.WithEnvVariable(k, v)
		}
	}
	return c
}

// buildPrograms compiles the programs in the Go stand-in (fetching the
// module versions from the proxy through the engine) and returns the
// directory of binaries.
func buildPrograms(client *dagger.Client, goImage string, progs ...goProgram) *dagger.Directory {
	src := client.Directory()
	var script []string
	for _, p := range progs {
		src = p.files(src)
		script = append(script, "(cd /src/"+p.name+" && go mod tidy && go build -trimpath -o /out/"+p.name+" .)")
	}
	return goEnv(client.Container().From(goImage)).
		WithEnvVariable("CGO_ENABLED", "0").
		WithMountedCache("/go/pkg/mod", client.CacheVolume("gantry-testbed-proof-gomod")).
		WithMountedDirectory("/src", src).
		WithExec([]string{"sh", "-ec", "mkdir -p /out\n" + strings.Join(script, "\n")}).
		Directory("/out")
}

// trivyReport is the part of Trivy's JSON report the tests read.
type trivyReport struct {
	Results []struct {
		Target          string
		Vulnerabilities []struct {
			VulnerabilityID  string
			PkgName          string
			InstalledVersion string
			Severity         string
		}
	}
}

// findings returns "ID SEVERITY" for every vulnerability in the report.
func (r trivyReport) findings() []string {
	var out []string
	for _, res := range r.Results {
		for _, v := range res.Vulnerabilities {
			out = append(out, v.VulnerabilityID+" "+v.Severity)
		}
	}
	sort.Strings(out)
	return out
}

// scan runs the Trivy stand-in on img with the bed's DB repository and
// returns its exit status and report.
func scan(ctx context.Context, t *testing.T, client *dagger.Client, trivyImage, dbRepo string, img *dagger.Container, severity string) (int, trivyReport) {
	t.Helper()
	run := client.Container().From(trivyImage).
		WithMountedFile("/scan/image.tar", img.AsTarball()).
		WithEnvVariable("NONCE", nonce(t)).
		WithExec([]string{
			"trivy", "image", "--input", "/scan/image.tar",
			"--db-repository", dbRepo, "--insecure",
			"--skip-version-check", "--disable-telemetry", "--skip-java-db-update",
			"--cache-dir", "/tmp/trivy-cache", "--scanners", "vuln",
			"--severity", severity, "--format", "json",
			"--exit-code", "42",
		}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := run.ExitCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := run.Stdout(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rep trivyReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		stderr, _ := run.Stderr(ctx)
		t.Fatalf("trivy exit %d, report not JSON (%v):\n%s\nstderr:\n%s", code, err, stdout, stderr)
	}
	return code, rep
}

// Trivy, with the DB from the bed's registry, finds the real advisories in
// Go binaries built with old module versions, filters by severity, and
// finds nothing in a clean binary.
func TestTrivyScan(t *testing.T) {
	set := imageSet(t)
	ctx, client := connect(t, 20*time.Minute)
	if set.TrivyDBRepository == "" {
		t.Fatal("the image set names no Trivy DB repository")
	}
	bins := buildPrograms(client, set.Go, textOld, cryptoOld, netOld, textNew)
	image := func(progs ...goProgram) *dagger.Container {
		c := client.Container().From(set.Runtime)
		for _, p := range progs {
			c = c.WithFile("/app/"+p.name, bins.File(p.name), dagger.ContainerWithFileOpts{Permissions: 0o755})
		}
		return c
	}

	tests := []struct {
		name     string
		image    *dagger.Container
		severity string
		wantCode int
		want     []string
	}{
		{
			name:     "vulnerable fails the HIGH,CRITICAL gate",
			image:    image(textOld, cryptoOld),
			severity: "HIGH,CRITICAL",
			wantCode: scanExitCode,
			want:     []string{"CVE-2021-38561 HIGH", "CVE-2024-45337 CRITICAL"},
		},
		{
			name:     "medium only passes the HIGH,CRITICAL gate",
			image:    image(netOld),
			severity: "HIGH,CRITICAL",
			wantCode: 0,
		},
		{
			name:     "medium only fails a gate that includes MEDIUM",
			image:    image(netOld),
			severity: "MEDIUM,HIGH,CRITICAL",
			wantCode: scanExitCode,
			want:     []string{"CVE-2023-3978 MEDIUM"},
		},
		{
			name:     "clean passes every gate",
			image:    image(textNew),
			severity: "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL",
			wantCode: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, rep := scan(ctx, t, client, set.Trivy, set.TrivyDBRepository, tt.image, tt.severity)
			got := rep.findings()
			if code != tt.wantCode || strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("exit %d, findings %v; want exit %d, findings %v", code, got, tt.wantCode, tt.want)
			}
			if len(rep.Results) == 0 && tt.wantCode != 0 {
				t.Error("report has no results: the binaries were not analysed")
			}
		})
	}
}
