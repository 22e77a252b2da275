package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/project"
	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/runcache"
	"github.com/gantry-ci/gantry/ci/internal/summary"
	"github.com/gantry-ci/gantry/ci/internal/tags"
	"github.com/gantry-ci/gantry/ci/internal/upload"
)

// keyInputs is everything that decides a run's outcome. Output locations,
// timeouts and the token are not in it: they don't change what passes.
type keyInputs struct {
	Gantry      string          // digest of Gantry's sources, so a changed pipeline reruns
	Project     project.Project // the declaration in ci/main.go, wherever Gantry's sources are
	Test        string          // digest of the test stage's upload
	Context     string          // digest of the build context
	Trivyignore string
	Options     options.Options
	Images      images.Set
	SHA         string
	Plan        tags.Plan
	Labels      map[string]string
	TrivyDB     string
	Signer      string // the signing key's id; a run signed otherwise is another run
}

// openRunCache returns the run cache, or ok=false (with a warning when
// something is wrong) if this run can't use one.
func openRunCache(in *inputs, warn io.Writer) (c runcache.Cache, ok bool) {
	opts := in.opts
	if opts.RunCache == "off" {
		return c, false
	}
	if in.dbDigest == "" {
		fmt.Fprintln(warn, "gantry: the run cache is off for this run: the Trivy DB's digest is unknown")
		return c, false
	}
	if in.key == "" {
		return c, false // runKey's error is said already
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

// runKey digests every input of the run, the uploads as they are now.
func runKey(in *inputs) (string, error) {
	opts := in.opts
	k := keyInputs{Project: in.decl, Options: *opts, Images: in.images, SHA: in.sha, Plan: in.tags, Labels: in.labels, TrivyDB: in.dbDigest}
	switch sg := in.sign; {
	case sg.Key != nil:
		k.Signer = sg.Key.ID
	case sg.Keyless != nil:
		// Who signs: the workflow (or subject) the token names, by issuer.
		k.Signer = "keyless " + sg.Keyless.Claims.Issuer + " " + cmp.Or(sg.Keyless.Claims.JobWorkflowRef, sg.Keyless.Claims.Subject)
	}
	k.Options.ReportDir, k.Options.EngineTimeout, k.Options.Rerun, k.Options.RunCache = "", 0, false, ""
	k.Options.ImagesFile, k.Options.AllowDirty = "", false
	k.Options.LayerCache = "" // where the layers come from changes no output
	var err error
	k.Gantry, err = pipeline.ProgramDigest(in.gantry.Dir)
	if err == nil {
		k.Test, err = in.uploads.TestDigest(opts.Source)
	}
	if err == nil {
		k.Context, err = in.uploads.Context.Digest(opts.Source)
	}
	if err == nil && in.uploads.Trivyignore {
		k.Trivyignore, err = runcache.FileDigest(filepath.Join(opts.Source, upload.Trivyignore))
	}
	if err != nil {
		return "", err
	}
	return runcache.Key(k)
}

// cachedRun returns the summary of an earlier passed run with the same key,
// its reports restored to --report-dir. A run that published counts only if
// every tag it wrote still points at what it pushed.
func cachedRun(ctx context.Context, c runcache.Cache, key string, in *inputs, out io.Writer) (summary.Summary, bool) {
	e, err := c.Lookup(key)
	if err != nil {
		fmt.Fprintf(out, "gantry: %v; running every stage\n", err)
	}
	if e == nil {
		return summary.Summary{}, false
	}
	if e.Summary.Image != imageName(in.opts) {
		return summary.Summary{}, false
	}
	// A publishing run's outcome is what it published: an entry that
	// published nothing can't stand for one (whatever wrote it).
	if in.opts.Publishing() && len(e.Summary.Refs) == 0 {
		fmt.Fprintf(out, "gantry: the recorded run published nothing, this run publishes; running every stage\n")
		return summary.Summary{}, false
	}
	if len(e.Summary.Refs) > 0 {
		// The entry may only say what this run would have published.
		var want []string
		for _, t := range in.tags.Tags {
			want = append(want, in.opts.Registry+"/"+in.opts.Image+":"+t+"@"+e.Summary.Digest)
		}
		if !slices.Equal(e.Summary.Refs, want) {
			fmt.Fprintf(out, "gantry: the recorded run published other tags than this run would; running every stage\n")
			return summary.Summary{}, false
		}
		if err := push.Current(ctx, e.Summary.Refs, in.images.Insecure); err != nil {
			fmt.Fprintf(out, "gantry: these inputs passed at %s, but what they published changed (%v); running every stage\n",
				e.Finished.Format("2006-01-02 15:04:05"), err)
			return summary.Summary{}, false
		}
	}
	paths, err := c.Restore(e, in.opts.ReportDir)
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
