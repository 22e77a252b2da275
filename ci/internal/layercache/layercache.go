// Package layercache puts the engine's layer cache in a registry, so that a
// runner that starts empty (every GitHub-hosted runner) starts warm.
//
// Dagger v0.19.10 still carries BuildKit's remote cache: the client reads
// _EXPERIMENTAL_DAGGER_CACHE_{IMPORT,EXPORT}_CONFIG when it connects, and the engine
// imports from it lazily, at the first solve, and exports to it when the
// session ends (engine/client/client.go allCacheConfigsFromEnv,
// engine/server/session.go). Neither reports a failure to the client: an
// import that fails is a cold run, an export that fails is a line in the
// engine's log. So Gantry probes the cache itself (Probe, run in the engine
// by gantry-publish) and says what it found in one line. v0.21 removed this
// path; an upgrade needs Dagger's cache service instead.
//
// It also keeps the other cache a run shares, the Dockerfile's cache
// mounts, to runs of the same trust level (MountNamespace).
package layercache

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The variables the Dagger client reads its cache configs from: imports
// only, exports only, and both (engine/client/client.go,
// allCacheConfigsFromEnv). Gantry never sets the last.
const (
	ImportEnvVar = "_EXPERIMENTAL_DAGGER_CACHE_IMPORT_CONFIG"
	ExportEnvVar = "_EXPERIMENTAL_DAGGER_CACHE_EXPORT_CONFIG"
	BothEnvVar   = "_EXPERIMENTAL_DAGGER_CACHE_CONFIG"
)

// Direction is which way a run's layer cache goes: never both, so that no
// run reads what a run of lower trust wrote.
type Direction int

const (
	// Read imports the cache and never exports it: a run that doesn't
	// publish (a pull request, a dry run) never writes what a publishing run
	// would read.
	Read Direction = iota
	// Write exports the cache and never imports it: a publishing run builds,
	// tests and scans from its own work only, never from a cache that anyone
	// who can push to the registry could have written (importing only a
	// digest that a signed record names would let it start warm; v0.19's
	// export reports no digest to sign).
	Write
)

// For is the direction of a run that publishes or not.
func For(publishing bool) Direction {
	if publishing {
		return Write
	}
	return Read
}

// The cache-mount namespaces of the two trust levels.
const (
	PublishNamespace = "gantry-publish"
	CheckNamespace   = "gantry-check"
)

// MountNamespaceArg is the build arg that BuildKit's Dockerfile frontend
// prefixes to the id of every `RUN --mount=type=cache` (dockerui's
// keyCacheNSArg, dockerfile2llb/convert_runmount.go): a Dockerfile can't
// name a mount outside its namespace, whatever `id=` it writes.
const MountNamespaceArg = "BUILDKIT_CACHE_MOUNT_NS"

// MountNamespace is the namespace of the Dockerfile's cache mounts in a run
// going direction d. Cache mounts live in the engine, shared by every build
// on it, and BuildKit caches a step's result without their contents in its
// key: without namespaces a pull request's Dockerfile could plant Go
// build-cache entries that a later publishing build on the same engine
// compiles with. Publishing runs share mounts only with each other.
func MountNamespace(d Direction) string {
	if d == Write {
		return PublishNamespace
	}
	return CheckNamespace
}

// Env is the variable and value that point the Dagger client at the cache
// at ref, in direction d.
func Env(ref string, insecure bool, d Direction) (name, value string) {
	if d == Write {
		return ExportEnvVar, Config(ref, insecure)
	}
	return ImportEnvVar, Config(ref, insecure)
}

// ShutdownTimeoutEnvVar is how long the client waits for the engine's
// shutdown, which runs the export (default 10 s).
const ShutdownTimeoutEnvVar = "_EXPERIMENTAL_DAGGER_SHUTDOWN_TIMEOUT"

// DefaultTag is the tag of the default cache, next to the image.
const DefaultTag = "buildcache"

// Config is the cache config for a registry cache at ref: mode=max exports
// every intermediate layer (the test stage's, the Dockerfile's build
// stage), not only the final image's; errors are ignored, as the engine
// does anyway, but said so.
func Config(ref string, insecure bool) string {
	cfg := "type=registry,ref=" + ref + ",mode=max,ignore-error=true"
	if insecure {
		cfg += ",registry.insecure=true"
	}
	return cfg
}

// cacheConfigType is the media type of BuildKit's cache config blob.
const cacheConfigType = "application/vnd.buildkit.cacheconfig.v0"

// States of a probed cache.
const (
	Found    = "found"    // a BuildKit cache: the run imports it
	Empty    = "empty"    // no such tag yet
	Unusable = "unusable" // unreadable or not a cache: the run is cold
)

// Status is what probing a cache found.
type Status struct {
	State string `json:"state"`
	// Detail says what was found, or what is wrong, in a phrase.
	Detail string `json:"detail"`
	// Writable says a push would be accepted (an upload can be started).
	Writable bool `json:"writable"`
	// WriteDetail says why not, when not writable.
	WriteDetail string `json:"writeDetail,omitempty"`
}

// Warning is the line to print when the cache can't do its job in
// direction d, or "".
func (s Status) Warning(d Direction) string {
	switch {
	case d == Read && s.State == Unusable:
		return s.Detail + ": this run is cold"
	case d == Write && !s.Writable:
		return "it refuses pushes (" + s.WriteDetail + "): this run won't update it"
	}
	return ""
}

// Probe reads the cache at ref and checks that it may be pushed to.
func Probe(ctx context.Context, ref string, insecure bool, auth authn.Authenticator, t http.RoundTripper) Status {
	opts := []name.Option{name.StrictValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	tag, err := name.NewTag(ref, opts...)
	if err != nil {
		return Status{State: Unusable, Detail: fmt.Sprintf("not a tag reference: %v", err)}
	}
	st := read(ctx, tag, auth, t)
	if err := remote.CheckPushPermission(tag, keychain{auth}, t); err != nil {
		st.WriteDetail = short(err)
	} else {
		st.Writable = true
	}
	return st
}

func read(ctx context.Context, tag name.Tag, auth authn.Authenticator, t http.RoundTripper) Status {
	desc, err := remote.Get(tag, remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(t))
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusNotFound || hasCode(terr, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode)) {
		return Status{State: Empty, Detail: "empty"}
	}
	if err != nil {
		return unreadable(err)
	}
	var layers int
	var size int64
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return unreadable(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return unreadable(err)
		}
		cache := false
		seen := map[string]bool{} // an index may list a blob more than once
		for _, m := range im.Manifests {
			if m.MediaType == cacheConfigType {
				cache = true
				continue
			}
			if !seen[m.Digest.String()] {
				seen[m.Digest.String()] = true
				layers++
				size += m.Size
			}
		}
		if !cache {
			return Status{State: Unusable, Detail: "not a BuildKit cache (an index of " + string(desc.MediaType) + " without a cache config)"}
		}
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return unreadable(err)
		}
		m, err := img.Manifest()
		if err != nil {
			return unreadable(err)
		}
		if m.Config.MediaType != types.MediaType(cacheConfigType) {
			return Status{State: Unusable, Detail: "not a BuildKit cache (an image whose config is " + string(m.Config.MediaType) + ")"}
		}
		for _, l := range m.Layers {
			layers++
			size += l.Size
		}
	default:
		return Status{State: Unusable, Detail: "not a BuildKit cache (" + string(desc.MediaType) + ")"}
	}
	return Status{State: Found, Detail: fmt.Sprintf("found: %d layers, %s", layers, humanSize(size))}
}

func unreadable(err error) Status {
	return Status{State: Unusable, Detail: "unreadable (" + short(err) + ")"}
}

func hasCode(e *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range e.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// short is an error's message, at most one line of 200 characters.
func short(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func humanSize(n int64) string {
	const mb = 1 << 20
	if n < mb {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/mb)
}

// keychain hands remote.CheckPushPermission the one authenticator.
type keychain struct{ auth authn.Authenticator }

func (k keychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }
