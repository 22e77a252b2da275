package pipeline

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"dagger.io/dagger"
	"dagger.io/dagger/engineconn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/gantry-ci/gantry/ci/internal/push"
	"github.com/gantry-ci/gantry/ci/internal/scanreport"
)

// The SDK's errors are told apart by type: a session that can't reach the
// engine, or can't be reached itself, is a lost engine; an engine that
// answers with an error is the stage's failure. Each case talks to a real
// dagger.Client over HTTP, as the SDK talks to its session.
func TestEngineLost(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: nothing listens
		lost    bool
	}{
		{"the session answers 502: the engine is gone", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"errors":[{"message":"http do: Post \"http://dagger/query\": unexpected EOF"}]}`)
		}, true},
		{"the session drops the connection", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, true},
		{"nothing listens: the session process died", nil, true},
		{"the engine answers with a failed exec", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"data":null,"errors":[{"message":"process \"go test ./...\" did not complete successfully: exit code: 1","extensions":{"_type":"EXEC_ERROR","exitCode":1}}]}`)
		}, false},
		{"the engine answers with an error", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"data":null,"errors":[{"message":"failed to resolve source metadata for docker.io/library/nope:1"}]}`)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			if tt.handler == nil {
				srv.Close()
			} else {
				defer srv.Close()
			}
			ctx := context.Background()
			c, err := dagger.Connect(ctx, dagger.WithConn(session{Client: srv.Client(), host: srv.Listener.Addr().String()}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.DefaultPlatform(ctx)
			if err == nil {
				t.Fatal("the query succeeded")
			}
			if got := EngineLost(fmt.Errorf("building: %w", err)); got != tt.lost {
				t.Errorf("EngineLost(%T %v) = %v, want %v", err, err, got, tt.lost)
			}
		})
	}
}

// An interrupt doesn't cut a publish short: its engine call outlives the
// run's context, so gantry-publish can finish or roll back its tags.
func TestPublishOutlivesInterrupt(t *testing.T) {
	received, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The first query is held until the run has been interrupted.
		first.Do(func() {
			close(received)
			<-release
		})
		io.WriteString(w, `{"data":null,"errors":[{"message":"answered after the interrupt"}]}`)
	}))
	defer srv.Close()
	c, err := dagger.Connect(context.Background(), dagger.WithConn(session{Client: srv.Client(), host: srv.Listener.Addr().String()}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, interrupt := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		img := c.Container()
		_, err := Publish(ctx, Env{Client: c}, PublishInput{Repository: "reg/app", Images: map[string]*dagger.Container{"linux/amd64": img},
			Tags: []string{"abc"}, Username: "u", Token: c.SetSecret("t", "x"), Publisher: c.Host().File("/gantry-publish")}, io.Discard)
		done <- err
	}()
	<-received
	interrupt()
	close(release)
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "answered after the interrupt") {
		t.Fatalf("err = %v, want the engine's late answer, not the interrupt", err)
	}
}

// session is a dagger engine connection to a test server.
type session struct {
	*http.Client
	host string
}

func (s session) Host() string { return s.host }
func (s session) Close() error { return nil }

var _ engineconn.EngineConn = session{}

func TestFailingOutputKeepsFailures(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		b.WriteString("ok  \tgithub.com/x/pkg\t0.1s\n")
	}
	b.WriteString("--- FAIL: TestThing (0.00s)\n    thing_test.go:12: deliberate\nFAIL\nFAIL\tgithub.com/x/bad\t0.2s\n")
	got := failingOutput(b.String())
	if !strings.Contains(got, "thing_test.go:12: deliberate") || strings.Contains(got, "github.com/x/pkg") {
		t.Errorf("failingOutput = %q", got)
	}
}

// A failed test stage names the failing tests, where they failed and in
// which package: what its annotation says.
func TestFailedTests(t *testing.T) {
	tests := []struct {
		name, out string
		want      []string
	}{
		{"go test -v's order: the message before, so no location", "=== RUN   TestHealth\n    health_test.go:42: got 503, want 200\n--- FAIL: TestHealth (0.01s)\nFAIL\nFAIL\texample.com/app\t0.02s\n",
			[]string{"TestHealth in example.com/app"}},
		{"go test's order: the message after", "--- FAIL: TestHealth (0.01s)\n    health_test.go:42: got 503, want 200\nFAIL\nFAIL\texample.com/app\t0.02s\n",
			[]string{"TestHealth in example.com/app (health_test.go:42: got 503, want 200)"}},
		{"a subtest, not its parent", "--- FAIL: TestAPI (0.00s)\n    --- FAIL: TestAPI/health (0.00s)\n        api_test.go:7: boom\nFAIL\nFAIL\texample.com/app/api\t0.1s\n",
			[]string{"TestAPI/health in example.com/app/api (api_test.go:7: boom)"}},
		{"two packages, capped", "--- FAIL: TestA (0s)\n    a_test.go:1: a\n--- FAIL: TestB (0s)\nFAIL\nFAIL\tex/a\t0s\n--- FAIL: TestC (0s)\n    c_test.go:3: c\n--- FAIL: TestD (0s)\n    d_test.go:4: d\nFAIL\nFAIL\tex/c\t0s\n",
			[]string{"TestA in ex/a (a_test.go:1: a)", "TestB in ex/a", "TestC in ex/c (c_test.go:3: c)", "and 1 more"}},
		{"not go test", "npm ERR! Test failed.\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failedTests(tt.out, 3); !slices.Equal(got, tt.want) {
				t.Errorf("failedTests = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPublishedRefs(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		digest  string
		want    []string
		wantErr bool
	}{
		{"refs from repo, tags and digest", digest, []string{"reg/bench/app:abc@" + digest, "reg/bench/app:latest@" + digest}, false},
		{"masked digest", "sha256:***", nil, true},
		{"empty digest", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := publishedRefs("reg/bench/app", []string{"abc", "latest"}, tt.digest)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !slices.Equal(res.Refs, tt.want) {
				t.Errorf("refs = %v, want %v", res.Refs, tt.want)
			}
		})
	}
}

// What the staging run reported reaches the summary and the step's
// outputs: the tagging run only moves tags, it signs nothing and reads the
// image by digest (a publish once reported no imageid and no Rekor entry).
func TestTaggedKeepsWhatTheStagingRunReported(t *testing.T) {
	digest := "sha256:" + strings.Repeat("b", 64)
	staged := push.Result{
		Digest: digest, ImageID: "sha256:" + strings.Repeat("c", 64),
		Signed: []string{digest}, Identity: "https://github.com/o/r/.github/workflows/ci.yml@refs/heads/main",
		Issuer: "https://token.actions.githubusercontent.com", LogIndexes: []int64{41, 42},
	}
	res, err := tagged(staged, "reg/o/r", []string{"latest"}, true, []string{"provenance"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ImageID != staged.ImageID || !slices.Equal(res.LogIndexes, staged.LogIndexes) ||
		!slices.Equal(res.Signed, staged.Signed) || res.Identity != staged.Identity || res.Issuer != staged.Issuer {
		t.Errorf("tagged = %+v, want the staged run's image ID, signatures, identity and log entries (%+v)", res, staged)
	}
	if !slices.Equal(res.Attestations, []string{"provenance"}) || !slices.Equal(res.Refs, []string{"reg/o/r:latest@" + digest}) {
		t.Errorf("attestations %v, refs %v", res.Attestations, res.Refs)
	}
	unsigned, err := tagged(staged, "reg/o/r", nil, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if unsigned.ImageID != staged.ImageID || unsigned.Signed != nil || unsigned.LogIndexes != nil || unsigned.Identity != "" {
		t.Errorf("an unsigned publish reports %+v, want only the image ID", unsigned)
	}
}

// A failed scan's cause is its findings table's first rows.
func TestFirstFindings(t *testing.T) {
	fs := []scanreport.Finding{
		{ID: "CVE-2024-45337", Severity: "CRITICAL", Package: "golang.org/x/crypto", Installed: "v0.30.0", Fixed: "0.31.0"},
		{ID: "CVE-2021-38561", Severity: "HIGH", Package: "golang.org/x/text", Installed: "v0.3.6", Fixed: "0.3.7"},
		{ID: "DLA-1", Severity: "HIGH", Package: "libc6", Installed: "2.36-9"},
	}
	if got, want := firstFindings(fs, 2), "CRITICAL CVE-2024-45337 in golang.org/x/crypto v0.30.0 (fixed in 0.31.0); HIGH CVE-2021-38561 in golang.org/x/text v0.3.6 (fixed in 0.3.7); and 1 more"; got != want {
		t.Errorf("firstFindings = %q, want %q", got, want)
	}
	if got, want := firstFindings(fs[2:], 2), "HIGH DLA-1 in libc6 2.36-9 (no fix)"; got != want {
		t.Errorf("firstFindings = %q, want %q", got, want)
	}
}

// Each module's Go caches get a tag of their own next to the layer cache,
// valid whatever the module's directory is called.
func TestCachesTag(t *testing.T) {
	for _, tt := range []struct{ dir, want string }{
		{".", "r.example/o/app:buildcache-go-root"},
		{"./", "r.example/o/app:buildcache-go-root"},
		{"app", "r.example/o/app:buildcache-go-app"},
		{"app/api", "r.example/o/app:buildcache-go-app-api"},
		{"./svc/v2.1", "r.example/o/app:buildcache-go-svc-v2-1"},
	} {
		got := CachesTag("r.example/o/app:buildcache", tt.dir)
		if got != tt.want {
			t.Errorf("CachesTag(%q) = %q, want %q", tt.dir, got, tt.want)
		}
		if _, err := name.NewTag(got, name.StrictValidation); err != nil {
			t.Errorf("CachesTag(%q) = %q: not a tag: %v", tt.dir, got, err)
		}
	}
}
