package cli

import (
	"os"
	"testing"

	"github.com/gantry-ci/gantry/ci/internal/layercache"
	"github.com/gantry-ci/gantry/ci/internal/options"
	"github.com/gantry-ci/gantry/ci/internal/runplan"
)

// Issue 21, item 2: a publishing run never imports the registry layer
// cache (whoever can push to the registry could have written it), and no
// other run exports it. A cache config left in the runner's environment
// never reaches the engine: the variable for both directions would have a
// publishing run import it.
func TestUseLayerCache(t *testing.T) {
	const ref = "ghcr.io/acme/app:buildcache"
	vars := []string{layercache.BothEnvVar, layercache.ImportEnvVar, layercache.ExportEnvVar}
	for _, tt := range []struct {
		name string
		opts options.Options
		want string // the one variable set, "" for none
	}{
		{name: "a push publishes", opts: options.Options{LayerCache: ref, Event: "push", Ref: "refs/heads/main"}, want: layercache.ExportEnvVar},
		{name: "a dry run", opts: options.Options{LayerCache: ref, Event: "push", DryRun: true}, want: layercache.ImportEnvVar},
		{name: "a pull request", opts: options.Options{LayerCache: ref, Event: "pull_request", Ref: "refs/pull/7/merge"}, want: layercache.ImportEnvVar},
		{name: "off", opts: options.Options{LayerCache: "off", Event: "push"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range vars {
				t.Setenv(v, "type=registry,ref=attacker.example/app:cache")
			}
			useLayerCache(&runplan.Run{Opts: &tt.opts})
			for _, v := range vars {
				got, set := os.LookupEnv(v)
				switch {
				case v == tt.want && got != layercache.Config(ref, false):
					t.Errorf("%s = %q, want %q", v, got, layercache.Config(ref, false))
				case v != tt.want && set:
					t.Errorf("%s = %q, want it unset", v, got)
				}
			}
		})
	}
}
