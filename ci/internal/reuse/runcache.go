package reuse

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/runcache"
	"github.com/gantry-ci/gantry/ci/internal/runplan"
	"github.com/gantry-ci/gantry/ci/internal/summary"
)

// OpenRunCache returns the run cache, or ok=false (with a warning when
// something is wrong) if this run can't use one.
func OpenRunCache(in *runplan.Run, warn io.Writer) (c runcache.Cache, ok bool) {
	opts := in.Opts
	if opts.RunCache == "off" {
		return c, false
	}
	if in.DBDigest == "" {
		fmt.Fprintln(warn, "gantry: the run cache is off for this run: the Trivy DB's digest is unknown")
		return c, false
	}
	if in.Key == "" {
		return c, false // Digest's error is said already
	}
	dir := opts.RunCache
	var err error
	if dir == "" {
		if dir, err = runcache.Default(); err != nil {
			fmt.Fprintf(warn, "gantry: the run cache is off: %v\n", err)
			return c, false
		}
	}
	if c, err = runcache.Open(dir); err != nil {
		fmt.Fprintf(warn, "gantry: warning: not using the run cache: %v; running every stage\n", err)
		return c, false
	}
	return c, true
}

// CachedRun returns the summary of an earlier passed run with the same key,
// its reports restored to --report-dir. A run that published counts only if
// every tag it wrote still points at what it pushed.
func CachedRun(ctx context.Context, c runcache.Cache, key string, in *runplan.Run, out io.Writer) (summary.Summary, bool) {
	e, err := c.Lookup(key)
	if err != nil {
		fmt.Fprintf(out, "gantry: %v; running every stage\n", err)
	}
	if e == nil {
		return summary.Summary{}, false
	}
	if e.Summary.Image != runplan.ImageName(in.Opts) {
		return summary.Summary{}, false
	}
	// A publishing run's outcome is what it published: an entry that
	// published nothing can't stand for one (whatever wrote it).
	if in.Opts.Publishing() && len(e.Summary.Refs) == 0 {
		fmt.Fprintf(out, "gantry: the Recorded run published nothing, this run publishes; running every stage\n")
		return summary.Summary{}, false
	}
	if len(e.Summary.Refs) > 0 {
		// The entry may only say what this run would have published.
		var want []string
		for _, t := range in.Tags.Tags {
			want = append(want, in.Opts.Registry+"/"+in.Opts.Image+":"+t+"@"+e.Summary.Digest)
		}
		if !slices.Equal(e.Summary.Refs, want) {
			fmt.Fprintf(out, "gantry: the Recorded run published other tags than this run would; running every stage\n")
			return summary.Summary{}, false
		}
		if err := push.Current(ctx, e.Summary.Refs, in.Images.Insecure); err != nil {
			fmt.Fprintf(out, "gantry: these inputs passed at %s, but what they published changed (%v); running every stage\n",
				e.Finished.Format("2006-01-02 15:04:05"), err)
			return summary.Summary{}, false
		}
	}
	paths, err := c.Restore(e, in.Opts.ReportDir)
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
