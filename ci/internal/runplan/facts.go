package runplan

import (
	"cmp"
	"runtime/debug"

	"github.com/gantry-ci/gantry/ci/internal/attest"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
)

// Facts is what the attestations of this run record. In GitHub Actions the
// builder is the workflow (its identity as a keyless signature would carry
// it) and the invocation is the run's attempt; elsewhere both are local.
func (in *Run) Facts() attest.Run {
	o, env := in.Opts, in.Getenv
	r := attest.Run{
		Builder:      attest.LocalBuilder,
		InvocationID: "gantry-run:" + in.ID,
		Ref:          in.Ref,
		SHA:          in.SHA,
		Event:        o.Event,
		Image:        o.Registry + "/" + o.Image,
		Tags:         in.Tags.Tags,
		Platforms:    o.Platforms,
		Flags: map[string]any{
			"severity": o.Severity, "ignoreUnfixed": o.IgnoreUnfixed, "latest": o.Latest,
			"defaultBranch": o.DefaultBranch, "skipTests": o.SkipTests, "sign": o.Sign,
			"dirty": in.Dirty,
		},
		Images: map[string]string{
			"go": in.Images.Go, "runtime": in.Images.Runtime, "postgres": in.Images.Postgres,
			"trivy": in.Images.Trivy, "probe": in.Images.Probe,
		},
		TrivyDB:  attest.DB{Repository: pipeline.DBRepository(in.Images), Digest: in.DBDigest},
		Versions: versions(),
		Started:  in.Started,
		RunKey:   in.Key,
	}
	if o.Repository != "" {
		r.Repository = "https://github.com/" + o.Repository
	}
	if env("GITHUB_ACTIONS") == "true" && env("GITHUB_WORKFLOW_REF") != "" {
		server := cmp.Or(env("GITHUB_SERVER_URL"), "https://github.com")
		r.Builder = server + "/" + env("GITHUB_WORKFLOW_REF")
		r.InvocationID = server + "/" + env("GITHUB_REPOSITORY") + "/actions/runs/" + env("GITHUB_RUN_ID") + "/attempts/" + cmp.Or(env("GITHUB_RUN_ATTEMPT"), "1")
	}
	return r
}

// versions are the builder's own: Gantry's module version and the Dagger
// SDK's, from the build info.
func versions() map[string]string {
	v := map[string]string{}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v["gantry"] = bi.Main.Version
	for _, d := range bi.Deps {
		if d.Path == "dagger.io/dagger" {
			v["dagger"] = d.Version
		}
	}
	return v
}
