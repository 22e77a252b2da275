package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dagger.io/dagger"

	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/scanreport"
)

// defaultDBRepository is where Trivy 0.69 fetches its DB by default.
const defaultDBRepository = "mirror.gcr.io/aquasec/trivy-db:2"

// trivyFindingsExit is what Trivy exits with when it finds anything; any
// other non-zero code is a crash. The gate itself reads the JSON report.
const trivyFindingsExit = 42

// scan runs Trivy on every platform's image and gates on the JSON report.
// The DB is fetched once per DB digest into a Dagger directory, so an
// unchanged image and DB are not scanned again and a new DB rescans.
func scan(ctx context.Context, r *Run) error {
	db := r.trivyDB()
	if err := os.MkdirAll(r.Opts.ReportDir, 0o755); err != nil {
		return failWith(ExitScanError, fmt.Errorf("creating --report-dir: %w", err))
	}
	res := &ScanResult{}
	var reports []scanreport.Report
	for _, p := range r.Opts.Platforms {
		rep, files, err := scanPlatform(ctx, r, db, p)
		res.Reports = append(res.Reports, files...)
		if err != nil {
			return failWith(ExitScanError, fmt.Errorf("scanning %s: %w", p, err))
		}
		reports = append(reports, rep)
	}
	res.Report = scanreport.Merge(reports...)
	res.Decision = scanreport.Gate(res.Report, r.Opts.Severity)
	r.Scan = res
	fmt.Fprintf(r.Out, "findings: %s; reports in %s\n", scanreport.CountLine(res.Decision.Counts), r.Opts.ReportDir)
	if !res.Decision.Passed() {
		fmt.Fprint(r.Out, scanreport.Table(res.Decision.Failing))
		return failWith(ExitScanFindings, fmt.Errorf("%d finding(s) at %s", len(res.Decision.Failing), strings.Join(r.Opts.Severity, ",")))
	}
	return nil
}

func trivyBase(r *Run) *dagger.Container {
	return r.Client.Container().From(r.Images.Trivy).
		WithEnvVariable("TRIVY_NO_PROGRESS", "true").
		WithEnvVariable("TRIVY_DISABLE_TELEMETRY", "true").
		WithEnvVariable("TRIVY_SKIP_VERSION_CHECK", "true")
}

// trivyDB downloads the vulnerability DB as a directory keyed by its digest,
// so Dagger fetches it again, and rescans, only when a new DB is out.
func (r *Run) trivyDB() *dagger.Directory {
	repo := dbRepository(r.Images)
	key := r.DBDigest
	if key == "" {
		// Unknown (the registry didn't answer a HEAD): rescan at most daily.
		key = "day-" + time.Now().UTC().Format("2006-01-02")
	}
	args := []string{"trivy", "image", "--download-db-only", "--cache-dir", "/cache", "--db-repository", repo}
	if r.Images.Insecure(repo) {
		args = append(args, "--insecure")
	}
	return trivyBase(r).
		WithEnvVariable("GANTRY_TRIVY_DB", key).
		WithExec(args).
		Directory("/cache/db")
}

func dbRepository(set images.Set) string {
	if set.TrivyDBRepository == "" {
		return defaultDBRepository
	}
	return set.TrivyDBRepository
}

// DBDigest reads the digest of the vulnerability DB that a scan would use.
func DBDigest(ctx context.Context, set images.Set) (string, error) {
	repo := dbRepository(set)
	d, err := push.Digest(ctx, repo, set.Insecure(repo))
	if err != nil {
		return "", fmt.Errorf("reading the digest of the Trivy DB %s: %w", repo, err)
	}
	return d, nil
}

// scanPlatform scans one image and writes its JSON, SARIF and CycloneDX
// reports to the report dir.
func scanPlatform(ctx context.Context, r *Run, db *dagger.Directory, platform string) (scanreport.Report, []string, error) {
	slug := strings.ReplaceAll(platform, "/", "-")
	ctr := trivyBase(r).
		WithDirectory("/cache/db", db).
		WithMountedFile("/work/image.tar", r.Built[platform].AsTarball()).
		WithWorkdir("/work")
	args := []string{"trivy", "image", "--input", "/work/image.tar", "--cache-dir", "/cache",
		"--skip-db-update", "--skip-java-db-update", "--offline-scan", "--scanners", "vuln", "--list-all-pkgs",
		"--format", "json", "--output", "/work/report.json", "--exit-code", fmt.Sprint(trivyFindingsExit)}
	if r.Opts.IgnoreUnfixed {
		args = append(args, "--ignore-unfixed")
	}
	if _, err := r.Source.File(".trivyignore").Size(ctx); err == nil {
		ctr = ctr.WithFile("/work/.trivyignore", r.Source.File(".trivyignore"))
		args = append(args, "--ignorefile", "/work/.trivyignore")
	}
	ctr = ctr.WithExec(args, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return scanreport.Report{}, nil, fmt.Errorf("running trivy: %w", err)
	}
	stderr, _ := ctr.Stderr(ctx)
	if code != 0 && code != trivyFindingsExit {
		return scanreport.Report{}, nil, fmt.Errorf("trivy crashed (exit %d):\n%s", code, tail(stderr, 20))
	}
	data, err := ctr.File("/work/report.json").Contents(ctx)
	if err != nil {
		return scanreport.Report{}, nil, fmt.Errorf("trivy exited %d without a report: %w\n%s", code, err, tail(stderr, 20))
	}
	rep, err := scanreport.Parse([]byte(data))
	if err != nil {
		return scanreport.Report{}, nil, err
	}
	// Trivy's exit code and its report must agree, or something is off.
	if (code == trivyFindingsExit) != (len(rep.Findings) > 0) {
		return scanreport.Report{}, nil, fmt.Errorf("trivy exited %d but its report lists %d finding(s)", code, len(rep.Findings))
	}

	// SARIF for code scanning and a CycloneDX SBOM, converted from the same
	// scan so they can't disagree with the JSON report.
	conv := ctr.
		WithExec([]string{"trivy", "convert", "--format", "sarif", "--output", "/work/report.sarif", "/work/report.json"}).
		WithExec([]string{"trivy", "convert", "--format", "cyclonedx", "--output", "/work/sbom.cdx.json", "/work/report.json"})
	var files []string
	for src, dst := range map[string]string{
		"/work/report.json":   "trivy-" + slug + ".json",
		"/work/report.sarif":  "trivy-" + slug + ".sarif",
		"/work/sbom.cdx.json": "sbom-" + slug + ".cdx.json",
	} {
		path := filepath.Join(r.Opts.ReportDir, dst)
		if _, err := conv.File(src).Export(ctx, path); err != nil {
			return scanreport.Report{}, files, fmt.Errorf("exporting %s: %w", dst, err)
		}
		files = append(files, path)
	}
	return rep, files, nil
}
