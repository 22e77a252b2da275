package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-ci/gantry/ci/internal/dockerfile"
)

var fastBackoff = remote.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 4}

// faulty fails requests that match with status until budget runs out.
type faulty struct {
	next   http.Handler
	match  func(*http.Request) bool
	status int
	budget atomic.Int64
	hits   atomic.Int64
	mu     sync.Mutex
	seen   map[string]int // faulty answers per method and path
}

func (f *faulty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.match(r) && f.budget.Add(-1) >= 0 {
		f.hits.Add(1)
		f.mu.Lock()
		f.seen[r.Method+" "+r.URL.Path]++
		f.mu.Unlock()
		http.Error(w, "injected fault", f.status)
		return
	}
	f.next.ServeHTTP(w, r)
}

func anyRequest(*http.Request) bool { return true }

func tagPut(tag string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/"+tag)
	}
}

func newRegistry(t *testing.T, match func(*http.Request) bool, status int, fails int) (string, *faulty) {
	t.Helper()
	f := &faulty{next: registry.New(registry.Logger(log.New(io.Discard, "", 0))), match: match, status: status, seen: map[string]int{}}
	f.budget.Store(int64(fails))
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://") + "/owner/app", f
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r)
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

func TestPublishRetries(t *testing.T) {
	tests := []struct {
		name    string
		match   func(*http.Request) bool
		status  int
		fails   int
		wantErr string
	}{
		{name: "no faults", match: anyRequest, status: 503, fails: 0},
		{name: "a few 503s are retried", match: anyRequest, status: 503, fails: 2},
		{name: "a few 502s on a tag are retried", match: tagPut("latest"), status: 502, fails: 3},
		{name: "persistent 503s fail", match: anyRequest, status: 503, fails: 1000, wantErr: "503"},
		{name: "401 is not retried", match: anyRequest, status: 401, fails: 1000, wantErr: "401"},
		{name: "403 on a tag fails at once", match: tagPut("latest"), status: 403, fails: 1000, wantErr: "tagging"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, f := newRegistry(t, tt.match, tt.status, tt.fails)
			img := randomImage(t)
			res, err := Publish(context.Background(), Request{Repository: repo, Tags: []string{"abc", "latest"}, Insecure: true, Backoff: fastBackoff}, img)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				if tt.status == 401 || tt.status == 403 {
					for req, n := range f.seen {
						if n > 1 {
							t.Errorf("%d was retried: %s answered %d times", tt.status, req, n)
						}
					}
				}
				for _, tag := range []string{"abc", "latest"} {
					if d := digestOf(t, repo+":"+tag); d != "" {
						t.Errorf("failed publish left %s:%s -> %s behind", repo, tag, d)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := img.Digest()
			if res.Digest != want.String() || len(res.Refs) != 2 {
				t.Fatalf("result = %+v, want digest %s and 2 refs", res, want)
			}
			for _, tag := range []string{"abc", "latest"} {
				if d := digestOf(t, repo+":"+tag); d != want.String() {
					t.Errorf("%s -> %q, want %s", tag, d, want)
				}
			}
			if tt.fails > 0 && f.hits.Load() != int64(tt.fails) {
				t.Errorf("faults served = %d, want %d", f.hits.Load(), tt.fails)
			}
		})
	}
}

// A failure on the last tag must put earlier tags back where they were.
func TestPublishRollsBackMovedTags(t *testing.T) {
	repo, f := newRegistry(t, tagPut("latest"), http.StatusBadRequest, 0)
	old := randomImage(t)
	if _, err := Publish(context.Background(), Request{Repository: repo, Tags: []string{"1.0", "latest"}, Insecure: true, Backoff: fastBackoff}, old); err != nil {
		t.Fatal(err)
	}
	oldDigest, _ := old.Digest()

	f.budget.Store(1000)
	_, err := Publish(context.Background(), Request{Repository: repo, Tags: []string{"newsha", "1.0", "latest"}, Insecure: true, Backoff: fastBackoff}, randomImage(t))
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("err = %v, want a rolled-back failure", err)
	}
	for tag, want := range map[string]string{"1.0": oldDigest.String(), "latest": oldDigest.String(), "newsha": ""} {
		if got := digestOf(t, repo+":"+tag); got != want {
			t.Errorf("after rollback %s -> %q, want %q", tag, got, want)
		}
	}
}

func TestPublishIndexWithHealthcheck(t *testing.T) {
	repo, _ := newRegistry(t, anyRequest, 503, 0)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: randomImage(t), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: randomImage(t), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	hc := &dockerfile.Healthcheck{Test: []string{"CMD", "/app", "healthcheck"}, Interval: 10 * time.Second, Retries: 3}
	a, err := WithHealthcheck(idx, hc)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Publish(context.Background(), Request{Repository: repo, Tags: []string{"x"}, Insecure: true}, a)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(repo+":x", name.Insecure)
	got, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := got.IndexManifest()
	if len(im.Manifests) != 2 {
		t.Fatalf("index has %d manifests", len(im.Manifests))
	}
	for _, d := range im.Manifests {
		img, err := got.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		if cf.Config.Healthcheck == nil || fmt.Sprint(cf.Config.Healthcheck.Test) != "[CMD /app healthcheck]" || cf.Config.Healthcheck.Retries != 3 {
			t.Errorf("%s: healthcheck = %+v", d.Platform, cf.Config.Healthcheck)
		}
	}
	if gotDigest, _ := got.Digest(); gotDigest.String() != res.Digest {
		t.Errorf("tag -> %s, result says %s", gotDigest, res.Digest)
	}
}

func TestPublishWrongCredentialsDoesNotLeakToken(t *testing.T) {
	const token = "s3cr3t-token-value"
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != "right" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/owner/app"
	_, err := Publish(context.Background(), Request{Repository: repo, Tags: []string{"t"}, Insecure: true, Backoff: fastBackoff,
		Auth: &authn.Basic{Username: "u", Password: token}}, randomImage(t))
	if err == nil {
		t.Fatal("wrong token accepted")
	}
	if strings.Contains(err.Error(), token) {
		t.Fatalf("error leaks the token: %v", err)
	}
	if !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Errorf("error should say the registry refused the credentials: %v", err)
	}
	if _, err := Publish(context.Background(), Request{Repository: repo, Tags: []string{"t"}, Insecure: true,
		Auth: &authn.Basic{Username: "u", Password: "right"}}, randomImage(t)); err != nil {
		t.Fatalf("right token: %v", err)
	}
}

// hooked is a registry whose requests pass through hook first; hook
// returns true when it answered the request itself. direct reaches the same
// registry without the hook, as another run would.
func hooked(t *testing.T, hook func(w http.ResponseWriter, r *http.Request) bool) (repo, direct string) {
	t.Helper()
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hook(w, r) {
			inner.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	other := httptest.NewServer(inner)
	t.Cleanup(other.Close)
	return strings.TrimPrefix(srv.URL, "http://") + "/owner/app", strings.TrimPrefix(other.URL, "http://") + "/owner/app"
}

func isTagPut(r *http.Request, tag string) bool {
	return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/"+tag)
}

// write points repo:tag at img, as another run would.
func write(t *testing.T, repo, tag string, img v1.Image) string {
	t.Helper()
	ref, err := name.NewTag(repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Errorf("writing %s: %v", ref, err)
	}
	d, _ := img.Digest()
	return d.String()
}

func publishTo(ctx context.Context, repo string, tags ...string) (v1.Image, error) {
	img, _ := random.Image(256, 2)
	_, err := Publish(ctx, Request{Repository: repo, Tags: tags, Insecure: true, Backoff: fastBackoff}, img)
	return img, err
}

// Scenarios where the publish fails after writing some of its tags: what
// it wrote is undone, and nothing else.
func TestPublishRollback(t *testing.T) {
	tests := []struct {
		name string
		tags []string // to publish; "1.0" and "latest" exist before
		// fault reacts to a request once the publish runs; ctl cancels the
		// publish, other writes as another run. true: it answered.
		fault   func(t *testing.T, repo string, other v1.Image, cancel func(), w http.ResponseWriter, r *http.Request) bool
		wantErr string
		want    map[string]string // tag -> "old", "other" or "" (absent)
	}{
		{
			name: "the final check finds a tag moved: the rest is rolled back, the moved tag stays",
			tags: []string{"newsha", "1.0", "latest"},
			fault: func() func(*testing.T, string, v1.Image, func(), http.ResponseWriter, *http.Request) bool {
				puts := 0
				moved := false
				return func(t *testing.T, repo string, other v1.Image, _ func(), w http.ResponseWriter, r *http.Request) bool {
					if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && !strings.Contains(r.URL.Path, "sha256:") {
						puts++
					}
					if puts == 3 && !moved && r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, "/manifests/latest") {
						moved = true
						write(t, repo, "latest", other)
					}
					return false
				}
			}(),
			wantErr: "verifying",
			want:    map[string]string{"newsha": "", "1.0": "old", "latest": "other"},
		},
		{
			name: "the run is cancelled while tagging: the rollback still runs",
			tags: []string{"1.0", "latest"},
			fault: func(t *testing.T, repo string, other v1.Image, cancel func(), w http.ResponseWriter, r *http.Request) bool {
				if isTagPut(r, "latest") {
					cancel()
					http.Error(w, "injected fault", http.StatusServiceUnavailable)
					return true
				}
				return false
			},
			wantErr: "tagging",
			want:    map[string]string{"1.0": "old", "latest": "old"},
		},
		{
			name: "a tag another run moved since is not put back",
			tags: []string{"1.0", "latest"},
			fault: func(t *testing.T, repo string, other v1.Image, _ func(), w http.ResponseWriter, r *http.Request) bool {
				if isTagPut(r, "latest") {
					write(t, repo, "1.0", other)
					http.Error(w, "injected fault", http.StatusBadRequest)
					return true
				}
				return false
			},
			wantErr: "tagging",
			want:    map[string]string{"1.0": "other", "latest": "old"},
		},
		{
			name: "new tags are written last, so a registry that can't delete tags keeps none",
			tags: []string{"newsha", "latest"},
			fault: func(t *testing.T, repo string, other v1.Image, _ func(), w http.ResponseWriter, r *http.Request) bool {
				switch {
				case r.Method == http.MethodDelete:
					http.Error(w, "tags can't be deleted here", http.StatusMethodNotAllowed)
					return true
				case isTagPut(r, "latest"):
					http.Error(w, "injected fault", http.StatusBadRequest)
					return true
				}
				return false
			},
			wantErr: "tagging",
			want:    map[string]string{"newsha": "", "latest": "old"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var armed atomic.Bool
			var direct string
			other := randomImage(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			repo, direct := hooked(t, func(w http.ResponseWriter, r *http.Request) bool {
				if !armed.Load() {
					return false
				}
				mu.Lock()
				defer mu.Unlock()
				return tt.fault(t, direct, other, cancel, w, r)
			})
			old, err := publishTo(context.Background(), repo, "1.0", "latest")
			if err != nil {
				t.Fatal(err)
			}
			armed.Store(true)
			_, err = publishTo(ctx, repo, tt.tags...)
			armed.Store(false)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			od, _ := old.Digest()
			xd, _ := other.Digest()
			names := map[string]string{od.String(): "old", xd.String(): "other", "": ""}
			for tag, want := range tt.want {
				got := digestOf(t, repo+":"+tag)
				if n, ok := names[got]; !ok || n != want {
					t.Errorf("%s -> %s (%s), want %q", tag, got, n, want)
				}
			}
		})
	}
}

// A 429 with Retry-After is waited out for as long as it asks (within
// MaxRetryAfter), then sent again.
func TestRetryAfterIsHonoured(t *testing.T) {
	var throttled atomic.Int64
	repo, _ := hooked(t, func(w http.ResponseWriter, r *http.Request) bool {
		if isTagPut(r, "latest") && throttled.Add(1) <= 2 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		}
		return false
	})
	tr := NewTransport(ResponseTimeout)
	var waits []time.Duration
	tr.Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	_, err := Publish(context.Background(), Request{Repository: repo, Tags: []string{"latest"}, Insecure: true,
		Backoff: remote.Backoff{Steps: 1}, Transport: tr}, randomImage(t))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if len(waits) != 2 || waits[0] != time.Second || waits[1] != time.Second {
		t.Errorf("waited %v, want Retry-After's 1s twice", waits)
	}
}

// A Retry-After beyond MaxRetryAfter is not waited out.
func TestLongRetryAfterIsNotWaited(t *testing.T) {
	repo, _ := hooked(t, func(w http.ResponseWriter, r *http.Request) bool {
		if isTagPut(r, "latest") {
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "come back in an hour", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	tr := NewTransport(ResponseTimeout)
	tr.Sleep = func(context.Context, time.Duration) error { t.Error("waited for an hour-long Retry-After"); return nil }
	_, err := Publish(context.Background(), Request{Repository: repo, Tags: []string{"latest"}, Insecure: true,
		Backoff: fastBackoff, Transport: tr}, randomImage(t))
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want the 503", err)
	}
}

// A registry that accepts the connection and never answers fails the
// publish after the response timeout, instead of hanging it.
func TestStalledRegistryTimesOut(t *testing.T) {
	// Reads work; writes are never answered. Only writes get the short
	// response timeout, which the stall makes sure to reach on any
	// machine; reads get the default, so a loaded machine cannot time
	// them out instead.
	isWrite := func(r *http.Request) bool { return r.Method == http.MethodPut || r.Method == http.MethodPost }
	repo, _ := hooked(t, func(w http.ResponseWriter, r *http.Request) bool {
		if isWrite(r) {
			<-r.Context().Done() // until the client gives up
			return true
		}
		return false
	})
	short, patient := NewTransport(100*time.Millisecond), NewTransport(ResponseTimeout)
	hook := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if isWrite(r) {
			return short.RoundTrip(r)
		}
		return patient.RoundTrip(r)
	})
	_, err := Publish(context.Background(), Request{Repository: repo, Tags: []string{"latest"}, Insecure: true,
		Backoff: fastBackoff, Transport: hook}, randomImage(t))
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("err = %v, want a response timeout", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Revision reads the revision label of what a tag points at: an image, or
// an index's first image; a missing tag has none.
func TestRevision(t *testing.T) {
	repo, _ := newRegistry(t, anyRequest, 0, 0)
	labelled := func(rev string) v1.Image {
		img, err := mutate.Config(randomImage(t), v1.Config{Labels: map[string]string{RevisionLabel: rev}})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	const a, b = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	if _, err := Publish(context.Background(), Request{Repository: repo, Tags: []string{"img"}, Insecure: true}, labelled(a)); err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: labelled(b)})
	if _, err := Publish(context.Background(), Request{Repository: repo, Tags: []string{"idx"}, Insecure: true}, idx); err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[string]string{"img": a, "idx": b, "missing": ""} {
		got, err := Revision(context.Background(), Request{Repository: repo, Insecure: true}, tag)
		if err != nil || got != want {
			t.Errorf("Revision(%s) = %q, %v; want %q", tag, got, err, want)
		}
	}
}

// Seal (signing and attesting) runs after the push by digest and before any
// tag moves, on the index and each platform manifest; if it fails, every
// tag stays where it was.
func TestSealRunsBeforeAnyTag(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("seal fails: %v", fail), func(t *testing.T) {
			repo, _ := hooked(t, func(http.ResponseWriter, *http.Request) bool { return false })
			old, err := publishTo(context.Background(), repo, "latest")
			if err != nil {
				t.Fatal(err)
			}
			od, _ := old.Digest()
			idx, err := random.Index(128, 1, 2)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := idx.Digest()
			im, _ := idx.IndexManifest()
			want := []string{id.String(), im.Manifests[0].Digest.String(), im.Manifests[1].Digest.String()}
			var sealed []string
			seal := func(ctx context.Context, ds []name.Digest, _ []remote.Option) error {
				for _, d := range ds {
					sealed = append(sealed, d.DigestStr())
					if digestOf(t, d.String()) == "" {
						t.Errorf("sealing %s before it was pushed", d)
					}
				}
				if got := digestOf(t, repo+":latest"); got != od.String() {
					t.Errorf("latest moved before the seal: %s", got)
				}
				if got := digestOf(t, repo+":newsha"); got != "" {
					t.Errorf("newsha written before the seal")
				}
				if fail {
					return errors.New("injected signing failure")
				}
				return nil
			}
			_, err = Publish(context.Background(), Request{Repository: repo, Tags: []string{"newsha", "latest"},
				Insecure: true, Backoff: fastBackoff, Seal: seal}, idx)
			if !slices.Equal(sealed, want) {
				t.Errorf("sealed %v, want the index then its manifests %v", sealed, want)
			}
			wantLatest, wantNew := id.String(), id.String()
			if fail {
				if err == nil || !strings.Contains(err.Error(), "injected signing failure") {
					t.Fatalf("err = %v, want the seal's", err)
				}
				wantLatest, wantNew = od.String(), ""
			} else if err != nil {
				t.Fatal(err)
			}
			if got := digestOf(t, repo+":latest"); got != wantLatest {
				t.Errorf("latest -> %s, want %s", got, wantLatest)
			}
			if got := digestOf(t, repo+":newsha"); got != wantNew {
				t.Errorf("newsha -> %q, want %q", got, wantNew)
			}
		})
	}
}

// Stage pushes and seals and writes no tag, so that a check of its result
// that fails leaves every tag as it was (issue 21, item 4: a run exited 8
// with its tags moved); Publish of the staged digest then tags it.
func TestStageWritesNoTag(t *testing.T) {
	repo, _ := hooked(t, func(http.ResponseWriter, *http.Request) bool { return false })
	old, err := publishTo(context.Background(), repo, "latest")
	if err != nil {
		t.Fatal(err)
	}
	od, _ := old.Digest()
	idx, err := random.Index(128, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := idx.Digest()
	var sealed int
	seal := func(context.Context, []name.Digest, []remote.Option) error { sealed++; return nil }
	req := Request{Repository: repo, Insecure: true, Backoff: fastBackoff, Seal: seal}

	if _, err := Stage(context.Background(), Request{Repository: repo, Tags: []string{"latest"}, Insecure: true}, idx); err == nil {
		t.Error("Stage with tags: no error")
	}
	res, err := Stage(context.Background(), req, idx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != id.String() || len(res.Refs) != 0 || sealed != 1 {
		t.Fatalf("Stage = %+v, sealed %d times; want digest %s, no refs, sealed once", res, sealed, id)
	}
	if got := digestOf(t, repo+"@"+id.String()); got != id.String() {
		t.Errorf("the staged index is not in the registry by digest: %q", got)
	}
	if got := digestOf(t, repo+":latest"); got != od.String() {
		t.Errorf("Stage moved latest to %s", got)
	}
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"latest"}) {
		t.Errorf("tags after Stage: %v, want only latest", tags)
	}

	if _, err := Publish(context.Background(), Request{Repository: repo, Tags: []string{"latest"}, Insecure: true, Backoff: fastBackoff}, idx); err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, repo+":latest"); got != id.String() {
		t.Errorf("latest -> %s after publishing the staged digest, want %s", got, id)
	}
}

// A multi-platform image's index carries the OCI labels its images share,
// as annotations (GHCR shows those for an index); a single image is left
// as it is.
func TestWithIndexAnnotations(t *testing.T) {
	labelled := func(labels map[string]string) v1.Image {
		t.Helper()
		img := randomImage(t)
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.Config.Labels = labels
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	shared := map[string]string{
		"org.opencontainers.image.title":    "orders",
		"org.opencontainers.image.licenses": "MIT",
		"com.example.team":                  "payments",
	}
	amd := maps.Clone(shared)
	amd["org.opencontainers.image.description"] = "amd64 build"
	arm := maps.Clone(shared)
	arm["org.opencontainers.image.description"] = "arm64 build"
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: labelled(amd), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: labelled(arm), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	a, err := WithIndexAnnotations(idx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.(v1.ImageIndex).IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"org.opencontainers.image.title": "orders", "org.opencontainers.image.licenses": "MIT"}
	if !maps.Equal(m.Annotations, want) {
		t.Errorf("index annotations %v, want the shared OCI labels %v", m.Annotations, want)
	}

	img := labelled(shared)
	single, err := WithIndexAnnotations(img)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustDigest(t, single), mustDigest(t, img); got != want {
		t.Errorf("a single image changed: %s -> %s", want, got)
	}
}

func mustDigest(t *testing.T, a Artifact) v1.Hash {
	t.Helper()
	d, err := a.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
