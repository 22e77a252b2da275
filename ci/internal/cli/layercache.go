package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/gantry-ci/gantry/ci/internal/layercache"
	"github.com/gantry-ci/gantry/ci/internal/pipeline"
	"github.com/gantry-ci/gantry/ci/internal/runplan"
)

// exportTimeout bounds the export at the end of the session, inside the
// five minutes the SDK gives its session process to exit once closed
// (engineconn/session.go WaitDelay).
const exportTimeout = 4*time.Minute + 30*time.Second

// useLayerCache points the Dagger client at the registry layer cache: it
// reads the variables when it connects (see package layercache). A
// publishing run only writes it, any other run only reads it. Cache
// configs the runner's environment set are dropped first: one of them
// would have a publishing run import a cache nobody vouches for. The
// export runs in the engine's shutdown handler, whose request the client
// gives 10 s by default. Measured on v0.19.10 with it at 1 s, closing the
// session still waited for a 60 s export to end, so the longer timeout is
// a safeguard: an ephemeral runner must not exit before the export does.
func useLayerCache(in *runplan.Run) {
	for _, v := range []string{layercache.BothEnvVar, layercache.ImportEnvVar, layercache.ExportEnvVar} {
		os.Unsetenv(v)
	}
	ref := in.Opts.LayerCache
	if ref == "off" {
		return
	}
	tag, _ := name.NewTag(ref) // validated
	os.Setenv(layercache.Env(ref, in.Images.Insecure(tag.RegistryStr()), layerCacheDirection(in)))
	os.Setenv(layercache.ShutdownTimeoutEnvVar, exportTimeout.String())
}

func layerCacheDirection(in *runplan.Run) layercache.Direction {
	return layercache.For(in.Opts.Publishing())
}

// closeSession ends the session; with the layer cache, that is when the
// engine exports it, and it says so and how long it took.
func closeSession(in *runplan.Run, disconnect func(), stdout io.Writer) {
	ref := in.Opts.LayerCache
	if ref == "off" || layerCacheDirection(in) == layercache.Read {
		disconnect()
		return
	}
	fmt.Fprintf(stdout, "gantry: exporting the layer cache to %s (failures show only in the engine's log)\n", ref)
	start := time.Now()
	disconnect()
	fmt.Fprintf(stdout, "gantry: session closed in %s\n", time.Since(start).Round(100*time.Millisecond))
}

// probeLayerCache gives the engine the registry token for the cache (the
// import runs at the first solve, the export when the session ends, both
// with the session's credentials), then probes the cache in the
// background and prints what it found, a warning if it can't serve. The
// channel yields the summary's line ("" when off).
func probeLayerCache(ctx context.Context, env pipeline.Env, in *runplan.Run, publisher pipeline.PublisherFunc, stdout, stderr io.Writer) <-chan string {
	out := make(chan string, 1)
	ref := in.Opts.LayerCache
	if ref == "off" {
		out <- ""
		return out
	}
	tag, _ := name.NewTag(ref)
	var token *dagger.Secret
	if in.Token != "" && in.Opts.Username != "" {
		token = env.Client.SetSecret("gantry-registry-token", in.Token)
		if _, err := env.Client.Container().WithRegistryAuth(tag.RegistryStr(), in.Opts.Username, token).Sync(ctx); err != nil {
			fmt.Fprintf(stderr, "gantry: warning: layer cache %s: giving the engine the registry token: %v\n", ref, err)
		}
	}
	go func() {
		line := func(format string, args ...any) string {
			return fmt.Sprintf("`%s`: ", ref) + fmt.Sprintf(format, args...)
		}
		platform, err := env.Client.DefaultPlatform(ctx)
		var bin *dagger.File
		if err == nil {
			bin, err = publisher(ctx, platform)
		}
		var st layercache.Status
		if err == nil {
			st, err = pipeline.ProbeLayerCache(ctx, env, pipeline.LayerCacheInput{Ref: ref, Username: in.Opts.Username, Token: token, Publisher: bin})
		}
		dir := layerCacheDirection(in)
		warning := st.Warning(dir)
		what := st.Detail + "; read, never written: this run does not publish"
		if dir == layercache.Write {
			what = "written when the run ends, never read: a publishing run builds only from its own work"
		}
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "gantry: warning: layer cache %s: could not probe it: %v\n", ref, err)
			out <- line("not probed (%v)", err)
		case warning != "":
			fmt.Fprintf(stderr, "gantry: warning: layer cache %s: %s\n", ref, warning)
			out <- line("**Warning**: %s.", warning)
		default:
			fmt.Fprintf(stdout, "gantry: layer cache %s: %s\n", ref, what)
			out <- line("%s.", what)
		}
	}()
	return out
}
