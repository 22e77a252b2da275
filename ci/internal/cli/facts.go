package cli

import (
	"cmp"
	"runtime/debug"

	"github.com/gantry-ci/gantry/ci/internal/attest"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
)

// facts is what the attestations of this run record. In GitHub Actions the
// builder is the workflow (its identity as a keyless signature would carry
// it) and the invocation is the run's attempt; elsewhere both are local.
func (in *inputs) facts() attest.Run {
	o, env := in.opts, in.getenv
	r := attest.Run{
		Builder:      attest.LocalBuilder,
		InvocationID: "gantry-run:" + in.id,
		Ref:          in.ref,
		SHA:          in.sha,
		Event:        o.Event,
		Image:        o.Registry + "/" + o.Image,
		Tags:         in.tags.Tags,
		Platforms:    o.Platforms,
		Flags: map[string]any{
			"severity": o.Severity, "ignoreUnfixed": o.IgnoreUnfixed, "latest": o.Latest,
			"defaultBranch": o.DefaultBranch, "skipTests": o.SkipTests, "sign": o.Sign,
			"dirty": in.dirty,
		},
		Images: map[string]string{
			"go": in.images.Go, "runtime": in.images.Runtime, "postgres": in.images.Postgres,
			"trivy": in.images.Trivy, "probe": in.images.Probe,
		},
		TrivyDB:  attest.DB{Repository: pipeline.DBRepository(in.images), Digest: in.dbDigest},
		Versions: versions(),
		Started:  in.started,
		RunKey:   in.key,
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
