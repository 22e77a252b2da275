package runplan

import (
	"cmp"
	"path/filepath"

	"github.com/gantry-ci/gantry/ci/internal/images"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/project"
	"github.com/gantry-ci/gantry/ci/internal/runcache"
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

// Digest is the run key: it digests every input of the run, the uploads as
// they are now.
func (in *Run) Digest() (string, error) {
	opts := in.Opts
	k := keyInputs{Project: in.Decl, Options: *opts, Images: in.Images, SHA: in.SHA, Plan: in.Tags, Labels: in.Labels, TrivyDB: in.DBDigest}
	switch sg := in.Sign; {
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
	k.Gantry, err = pipeline.ProgramDigest(in.Gantry.Dir)
	if err == nil {
		k.Test, err = in.Uploads.TestDigest(opts.Source)
	}
	if err == nil {
		k.Context, err = in.Uploads.Context.Digest(opts.Source)
	}
	if err == nil && in.Uploads.Trivyignore {
		k.Trivyignore, err = runcache.FileDigest(filepath.Join(opts.Source, upload.Trivyignore))
	}
	if err != nil {
		return "", err
	}
	return runcache.Key(k)
}
