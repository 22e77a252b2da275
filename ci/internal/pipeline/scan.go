package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/gantry-ci/gantry/ci/internal/graph"

	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/project"
	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/scanreport"
)

// defaultDBRepository is where Trivy 0.69 fetches its DB by default.
const defaultDBRepository = "mirror.gcr.io/aquasec/trivy-db:2"

// ScanInput is what the scan stage takes.
type ScanInput struct {
	Images        map[string]*dagger.Container // by platform
	DB            *dagger.Directory            // Trivy's DB, from TrivyDB
	Severity      []string                     // the gate
	IgnoreUnfixed bool
	Ignorefile    *dagger.File // the repository's .trivyignore; nil without one
	// Covers is what each platform's report must show Trivy read
	// (project.Scan.Covers): a clean result is worth nothing otherwise.
	Covers    []string
	ReportDir string
	// MaxDBAge is how old the DB may be (since its UpdatedAt): an
	// older one fails the scan, which would otherwise pass on advisories
	// that miss a week of CVEs. Zero: no limit.
	MaxDBAge time.Duration
}

// ScanResult is the scan stage's verdict.
type ScanResult struct {
	Report   scanreport.Report
	Decision scanreport.Decision
	// Files are the reports by file name (trivy-PLATFORM.json and .sarif,
	// sbom-PLATFORM.cdx.json), lazy: ExportReports writes them to
	// --report-dir once the graph is done.
	Files   map[string]*dagger.File
	Reports []string // the files ExportReports wrote
	// Raw is Trivy's JSON report and SBOM its CycloneDX SBOM, by platform,
	// for the attestations.
	Raw               map[string]json.RawMessage
	SBOMs             map[string]*dagger.File
	Started, Finished time.Time
	Severity          []string // the gate, as asked for
	IgnoreUnfixed     bool
	DBUpdatedAt       time.Time // the DB's own update time, from its metadata
	// Ignorefile is the .trivyignore in effect (nil: none): its digest and
	// what it suppressed, for the scan attestation.
	Ignorefile *Ignorefile
}

// Ignorefile is an ignore file a scan applied.
type Ignorefile struct {
	Digest     string   // sha256:<hex> of its content
	Suppressed []string // the vulnerability IDs it took out of the findings
}

// Scan runs Trivy on every platform's image at once and gates on the JSON
// reports. An unchanged image and DB are not scanned again; a new DB
// rescans. The result is returned with the findings error too, for the
// summary.
func Scan(ctx context.Context, env Env, in ScanInput, log io.Writer) (*ScanResult, error) {
	start := time.Now()
	updated, err := dbUpdatedAt(ctx, in.DB)
	if err != nil {
		return nil, err
	}
	if err := dbFresh(updated, time.Now(), in.MaxDBAge); err != nil {
		return nil, err
	}
	platforms := make([]string, 0, len(in.Images))
	for p := range in.Images {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	scans := make([]platformScan, len(platforms))
	eg, ectx := errgroup.WithContext(ctx)
	for i, p := range platforms {
		eg.Go(func() error {
			var err error
			scans[i], err = scanPlatform(ectx, env, in, p)
			if err != nil {
				return fmt.Errorf("scanning %s: %w", p, err)
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	res := &ScanResult{Raw: map[string]json.RawMessage{}, SBOMs: map[string]*dagger.File{}, Files: map[string]*dagger.File{}, Started: start, Finished: time.Now(),
		Severity: in.Severity, IgnoreUnfixed: in.IgnoreUnfixed, DBUpdatedAt: updated}
	var reports []scanreport.Report
	for i, sc := range scans {
		maps.Copy(res.Files, sc.files)
		reports = append(reports, sc.report)
		res.Raw[platforms[i]] = sc.raw
		res.SBOMs[platforms[i]] = sc.sbom
	}
	res.Report = scanreport.Merge(reports...)
	res.Decision = scanreport.Gate(res.Report, in.Severity)
	fmt.Fprintf(log, "findings: %s; reports in %s\n", scanreport.CountLine(res.Decision.Counts), in.ReportDir)
	if in.Ignorefile != nil {
		data, err := in.Ignorefile.Contents(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading .trivyignore: %w", err)
		}
		res.Ignorefile = &Ignorefile{Digest: fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(data))), Suppressed: res.Report.SuppressedIDs()}
		suppressed := "nothing"
		if len(res.Ignorefile.Suppressed) > 0 {
			suppressed = strings.Join(res.Ignorefile.Suppressed, ", ")
		}
		fmt.Fprintf(log, ".trivyignore (%s) suppressed %s\n", res.Ignorefile.Digest, suppressed)
	}
	if !res.Decision.Passed() {
		fmt.Fprint(log, scanreport.Table(res.Decision.Failing))
		return res, graph.WithCode(ExitScanFindings, fmt.Errorf("%d finding(s) at %s: %s", len(res.Decision.Failing), strings.Join(in.Severity, ","), firstFindings(res.Decision.Failing, 3)))
	}
	return res, nil
}

func trivyBase(env Env) *dagger.Container {
	return env.Client.Container().From(env.Images.Trivy).
		WithEnvVariable("TRIVY_NO_PROGRESS", "true").
		WithEnvVariable("TRIVY_DISABLE_TELEMETRY", "true").
		WithEnvVariable("TRIVY_SKIP_VERSION_CHECK", "true")
}

// TrivyDB names the vulnerability DB a run scans with.
type TrivyDB struct {
	// Digest of the DB in its registry; empty if it could not be read.
	Digest string
	// Day stands in for an unknown digest: the DB is fetched again, and
	// images rescanned, at most daily.
	Day string
}

// trivyDB downloads the vulnerability DB as a directory keyed by its digest,
// so Dagger fetches it again, and rescans, only when a new DB is out. With
// a digest it pulls the DB by that digest, the one the attestations name:
// a tag moved between reading the digest and the download can't swap it.
func trivyDB(env Env, db TrivyDB) *dagger.Directory {
	repo := DBRepository(env.Images)
	from, key := repo, db.Digest
	if key == "" {
		key = "day-" + db.Day
	} else {
		from = pinnedDB(repo, db.Digest)
	}
	args := []string{"trivy", "image", "--download-db-only", "--cache-dir", "/cache", "--db-repository", from}
	if env.Images.Insecure(repo) {
		args = append(args, "--insecure")
	}
	return trivyBase(env).
		WithEnvVariable("GANTRY_TRIVY_DB", key).
		WithExec(args).
		Directory("/cache/db")
}

// pinnedDB is repo (REGISTRY/NAME:TAG) at digest: REGISTRY/NAME@digest.
// An unparsable repo stays as it is (its digest could not have been read).
func pinnedDB(repo, digest string) string {
	ref, err := name.ParseReference(repo, name.WeakValidation)
	if err != nil {
		return repo
	}
	return ref.Context().Name() + "@" + digest
}

// dbMetadata is the part of the DB's metadata.json the scan checks.
type dbMetadata struct {
	UpdatedAt time.Time
}

// dbUpdatedAt reads the DB's update time from its metadata.
func dbUpdatedAt(ctx context.Context, db *dagger.Directory) (time.Time, error) {
	data, err := db.File("metadata.json").Contents(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the Trivy DB's metadata.json: %w", err)
	}
	var m dbMetadata
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		return time.Time{}, fmt.Errorf("reading the Trivy DB's metadata.json: %w", err)
	}
	if m.UpdatedAt.IsZero() {
		return time.Time{}, fmt.Errorf("the Trivy DB's metadata.json has no UpdatedAt")
	}
	return m.UpdatedAt, nil
}

// dbFresh fails when a DB updated at updated is older than max at now.
func dbFresh(updated, now time.Time, max time.Duration) error {
	if max <= 0 {
		return nil
	}
	if age := now.Sub(updated); age > max {
		return fmt.Errorf("the Trivy DB was updated %s, %s ago, more than --max-db-age %s: its advisories miss what was published since; update the DB (or its mirror), or raise --max-db-age",
			updated.UTC().Format(time.RFC3339), roundAge(age), max)
	}
	return nil
}

// roundAge shows an age in days and hours, or minutes when short.
func roundAge(d time.Duration) string {
	if d < time.Hour {
		return d.Round(time.Minute).String()
	}
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if days == 0 {
		return fmt.Sprintf("%dh", hours)
	}
	return fmt.Sprintf("%dd%dh", days, hours)
}

// DBRepository is where the scan fetches Trivy's DB: the image set's, or
// Trivy's default.
func DBRepository(set images.Set) string {
	if set.TrivyDBRepository == "" {
		return defaultDBRepository
	}
	return set.TrivyDBRepository
}

// DBDigest reads the digest of the vulnerability DB that a scan would use.
func DBDigest(ctx context.Context, set images.Set) (string, error) {
	repo := DBRepository(set)
	d, err := push.Digest(ctx, repo, set.Insecure(repo))
	if err != nil {
		return "", fmt.Errorf("reading the digest of the Trivy DB %s: %w", repo, err)
	}
	return d, nil
}

// covered checks that the report shows Trivy read what the project says
// it must (a report that recognised nothing has no findings, and would
// pass).
func covered(ctx context.Context, rep scanreport.Report, covers []string, img *dagger.Container) error {
	for _, c := range covers {
		switch c {
		case project.CoversOSPackages:
			if err := rep.CoversOSPackages(); err != nil {
				return fmt.Errorf("%w (gantry.Scan.Covers asks for the OS packages)", err)
			}
		case project.CoversEntrypoint:
			ep, err := img.Entrypoint(ctx)
			if err != nil {
				return fmt.Errorf("reading the image's entrypoint: %w", err)
			}
			if len(ep) == 0 {
				return fmt.Errorf("the image has no ENTRYPOINT, so the scan can't tell which binary is the service: give it one, or declare what the scan must cover (gantry.Scan.Covers)")
			}
			if err := rep.Covers(ep[0]); err != nil {
				return fmt.Errorf("%w: the entrypoint must be a binary Trivy reads (Go, Rust), or declare what the scan must cover instead, e.g. gantry.CoversOSPackages for a runtime from OS packages (gantry.Scan.Covers)", err)
			}
		default:
			if err := rep.Covers(c); err != nil {
				return fmt.Errorf("%w (gantry.Scan.Covers asks for it)", err)
			}
		}
	}
	return nil
}

// ExportReports writes the scan's reports to dir, after the graph: a stage
// writes nothing on the host. It sets r.Reports to the files written.
func (r *ScanResult) ExportReports(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating --report-dir: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Files)) {
		path := filepath.Join(dir, name)
		if _, err := r.Files[name].Export(ctx, path); err != nil {
			return fmt.Errorf("exporting %s: %w", name, err)
		}
		r.Reports = append(r.Reports, path)
	}
	return nil
}

// platformScan is one platform's scan.
type platformScan struct {
	report scanreport.Report
	files  map[string]*dagger.File // its reports, by file name
	raw    json.RawMessage
	sbom   *dagger.File
}

// scanPlatform scans one image and writes its JSON, SARIF and CycloneDX
// reports to the report dir.
func scanPlatform(ctx context.Context, env Env, in ScanInput, platform string) (platformScan, error) {
	slug := strings.ReplaceAll(platform, "/", "-")
	ctr := trivyBase(env).
		WithDirectory("/cache/db", in.DB).
		WithMountedFile("/work/image.tar", in.Images[platform].AsTarball()).
		WithWorkdir("/work")
	args := []string{"trivy", "image", "--input", "/work/image.tar", "--cache-dir", "/cache",
		"--skip-db-update", "--skip-java-db-update", "--offline-scan", "--scanners", "vuln", "--list-all-pkgs",
		"--format", "json", "--output", "/work/report.json"}
	if in.IgnoreUnfixed {
		args = append(args, "--ignore-unfixed")
	}
	if in.Ignorefile != nil {
		ctr = ctr.WithFile("/work/.trivyignore", in.Ignorefile)
		// --show-suppressed: the report lists what the file took out
		// (ExperimentalModifiedFindings), for the attestation.
		args = append(args, "--ignorefile", "/work/.trivyignore", "--show-suppressed")
	}
	// Trivy exits 0 with or without findings (no --exit-code: the gate
	// reads the JSON report), so any other exit is a crash. The exec must
	// succeed: the engine caches an exec that returned, and a crash (a
	// timeout, a transient fault) must not be replayed on the next run of
	// the same image and DB. A failed exec is never cached.
	ctr = ctr.WithExec(args)
	if _, err := ctr.Sync(ctx); err != nil {
		var ee *dagger.ExecError
		if errors.As(err, &ee) {
			return platformScan{}, fmt.Errorf("trivy crashed (exit %d):\n%s", ee.ExitCode, tail(ee.Stderr, 20))
		}
		return platformScan{}, fmt.Errorf("running trivy: %w", err)
	}
	data, err := ctr.File("/work/report.json").Contents(ctx)
	if err != nil {
		stderr, _ := ctr.Stderr(ctx)
		return platformScan{}, fmt.Errorf("trivy exited 0 without a report: %w\n%s", err, tail(stderr, 20))
	}
	rep, err := scanreport.Parse([]byte(data))
	if err != nil {
		return platformScan{}, err
	}
	if err := covered(ctx, rep, in.Covers, in.Images[platform]); err != nil {
		return platformScan{}, err
	}

	// SARIF for code scanning and a CycloneDX SBOM, converted from the same
	// scan so they can't disagree with the JSON report.
	conv := ctr.
		WithExec([]string{"trivy", "convert", "--format", "sarif", "--output", "/work/report.sarif", "/work/report.json"}).
		WithExec([]string{"trivy", "convert", "--format", "cyclonedx", "--output", "/work/sbom.cdx.json", "/work/report.json"})
	files := map[string]*dagger.File{}
	for src, dst := range map[string]string{
		"/work/report.json":   "trivy-" + slug + ".json",
		"/work/report.sarif":  "trivy-" + slug + ".sarif",
		"/work/sbom.cdx.json": "sbom-" + slug + ".cdx.json",
	} {
		files[dst] = conv.File(src)
	}
	return platformScan{report: rep, files: files, raw: json.RawMessage(data), sbom: conv.File("/work/sbom.cdx.json")}, nil
}

// firstFindings are the first n rows of the findings table on one line,
// the most severe first: what a failed scan's annotation says.
func firstFindings(fs []scanreport.Finding, n int) string {
	var rows []string
	for i, f := range fs {
		if i == n {
			rows = append(rows, fmt.Sprintf("and %d more", len(fs)-n))
			break
		}
		fix := "no fix"
		if f.Fixed != "" {
			fix = "fixed in " + f.Fixed
		}
		rows = append(rows, fmt.Sprintf("%s %s in %s %s (%s)", f.Severity, f.ID, f.Package, f.Installed, fix))
	}
	return strings.Join(rows, "; ")
}
