package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/runcache"
	"github.com/gantry-ci/gantry/ci/internal/summary"
	"github.com/gantry-ci/gantry/ci/internal/tags"
)

// sourceExcludes are the paths under --source that the engine never sees,
// so they are not part of the run cache's key either.
func sourceExcludes(opts *options.Options) []string {
	ex := []string{".git", "bench/out", ".testbed", ".env"}
	src, err1 := filepath.Abs(opts.Source)
	reports, err2 := filepath.Abs(opts.ReportDir)
	if err1 == nil && err2 == nil {
		if rel, err := filepath.Rel(src, reports); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			ex = append(ex, filepath.ToSlash(rel))
		}
	}
	return ex
}

// keyInputs is everything that decides a run's outcome. Output locations,
// timeouts and the token are not in it: they don't change what passes.
type keyInputs struct {
	Gantry  string // digest of this program, so a changed pipeline reruns
	Source  string
	Options options.Options
	Images  images.Set
	SHA     string
	Plan    tags.Plan
	Labels  map[string]string
	TrivyDB string
}

// openRunCache returns the run cache and this run's key in it, or ok=false
// (with a warning when something is wrong) if this run can't use one.
func openRunCache(r *pipeline.Run, warn io.Writer) (c runcache.Cache, key string, ok bool) {
	opts := r.Opts
	if opts.RunCache == "off" {
		return c, "", false
	}
	if r.DBDigest == "" {
		fmt.Fprintln(warn, "gantry: the run cache is off for this run: the Trivy DB's digest is unknown")
		return c, "", false
	}
	var err error
	if opts.RunCache != "" {
		c = runcache.Cache{Dir: opts.RunCache}
	} else if c, err = runcache.Default(); err != nil {
		fmt.Fprintf(warn, "gantry: the run cache is off: %v\n", err)
		return c, "", false
	}
	in := keyInputs{Options: *opts, Images: r.Images, SHA: r.SHA, Plan: r.Plan, Labels: r.Labels, TrivyDB: r.DBDigest}
	in.Options.ReportDir, in.Options.EngineTimeout, in.Options.Rerun, in.Options.RunCache = "", 0, false, ""
	in.Options.ImagesFile, in.Options.AllowDirty = "", false
	exe, err := os.Executable()
	if err == nil {
		in.Gantry, err = runcache.FileDigest(exe)
	}
	if err == nil {
		in.Source, err = runcache.TreeDigest(opts.Source, sourceExcludes(opts))
	}
	if err == nil {
		key, err = runcache.Key(in)
	}
	if err != nil {
		fmt.Fprintf(warn, "gantry: the run cache is off for this run: %v\n", err)
		return c, "", false
	}
	return c, key, true
}

// cachedRun returns the summary of an earlier passed run with the same key,
// its reports restored to --report-dir. A run that published counts only if
// every tag it wrote still points at what it pushed.
func cachedRun(ctx context.Context, c runcache.Cache, key string, r *pipeline.Run, out io.Writer) (summary.Summary, bool) {
	e, err := c.Lookup(key)
	if err != nil {
		fmt.Fprintf(out, "gantry: %v; running every stage\n", err)
	}
	if e == nil {
		return summary.Summary{}, false
	}
	if len(e.Summary.Refs) > 0 {
		if err := push.Current(ctx, e.Summary.Refs, r.Images.Insecure); err != nil {
			fmt.Fprintf(out, "gantry: these inputs passed at %s, but what they published changed (%v); running every stage\n",
				e.Finished.Format("2006-01-02 15:04:05"), err)
			return summary.Summary{}, false
		}
	}
	paths, err := c.Restore(e, r.Opts.ReportDir)
	if err != nil {
		fmt.Fprintf(out, "gantry: %v; running every stage\n", err)
		return summary.Summary{}, false
	}
	s := runcache.Cached(e)
	s.Reports = paths
	fmt.Fprintf(out, "gantry: cached: these exact inputs passed every stage at %s (--rerun runs them again)\n",
		e.Finished.Format("2006-01-02 15:04:05"))
	return s, true
}
