package codescanning

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// standIn is GitHub's upload endpoint as far as an upload can tell: it
// checks the token, the path, the commit and ref, that sarif is base64 of
// gzip of a SARIF 2.1.0 document, and the size, and keeps what it got.
type standIn struct {
	token string
	got   map[string]any // the SARIF document of the last good upload
	ref   string
}

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) {
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"message": msg})
	}
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/repos/acme/app/code-scanning/sarifs":
		fail(http.StatusNotFound, "Not Found")
		return
	case r.Header.Get("Authorization") != "Bearer "+s.token:
		fail(http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	var body struct{ CommitSHA, Ref, Sarif string }
	dec := json.NewDecoder(r.Body)
	var raw map[string]string
	if err := dec.Decode(&raw); err != nil {
		fail(http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	body.CommitSHA, body.Ref, body.Sarif = raw["commit_sha"], raw["ref"], raw["sarif"]
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(body.CommitSHA) {
		fail(http.StatusUnprocessableEntity, "Invalid commit_sha")
		return
	}
	if !regexp.MustCompile(`^refs/(heads|tags|pull)/`).MatchString(body.Ref) {
		fail(http.StatusUnprocessableEntity, "Invalid ref")
		return
	}
	gz, err := base64.StdEncoding.DecodeString(body.Sarif)
	if err != nil {
		fail(http.StatusBadRequest, "Invalid sarif: not base64")
		return
	}
	if len(gz) > MaxGzipped {
		fail(http.StatusRequestEntityTooLarge, "Payload Too Large")
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		fail(http.StatusBadRequest, "Invalid sarif: not gzip")
		return
	}
	data, _ := io.ReadAll(zr)
	var doc map[string]any
	if json.Unmarshal(data, &doc) != nil || doc["version"] != "2.1.0" {
		fail(http.StatusBadRequest, "Invalid sarif: not SARIF 2.1.0")
		return
	}
	s.got, s.ref = doc, body.Ref
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]string{"id": "47177e22-5596-11eb-80a1-c1e54ef945c6"})
}

func sarif(rule string) []byte {
	return []byte(`{"version":"2.1.0","$schema":"https://json.schemastore.org/sarif-2.1.0.json","runs":[{"tool":{"driver":{"name":"Trivy"}},"results":[{"ruleId":"` + rule + `"}]}]}`)
}

func TestUpload(t *testing.T) {
	si := &standIn{token: "t0ken"}
	srv := httptest.NewServer(si)
	defer srv.Close()
	const sha = "0123456789abcdef0123456789abcdef01234567"
	good := Upload{APIURL: srv.URL, Repository: "acme/app", Token: "t0ken", Commit: sha, Ref: "refs/heads/main",
		Reports: map[string][]byte{"linux-arm64": sarif("CVE-2"), "linux-amd64": sarif("CVE-1")}}
	id, err := good.Do(context.Background())
	if err != nil || id == "" {
		t.Fatalf("Do = %q, %v", id, err)
	}
	// One document, a run per platform, each its own analysis.
	runs, _ := si.got["runs"].([]any)
	if len(runs) != 2 {
		t.Fatalf("%d runs uploaded, want 2", len(runs))
	}
	for i, want := range []string{"gantry/linux-amd64/", "gantry/linux-arm64/"} {
		ad, _ := runs[i].(map[string]any)["automationDetails"].(map[string]any)
		if ad["id"] != want {
			t.Errorf("run %d's category %v, want %s", i, ad["id"], want)
		}
	}

	for _, tt := range []struct {
		name string
		edit func(*Upload)
		want string
	}{
		{"no permission", func(u *Upload) { u.Token = "read-only" }, "403 Forbidden: Resource not accessible by integration (the job needs `permissions: security-events: write`"},
		{"a short commit", func(u *Upload) { u.Commit = "0123456" }, `commit "0123456" is not a full SHA`},
		{"a bare branch", func(u *Upload) { u.Ref = "main" }, `ref "main" is not a full ref`},
		{"no report", func(u *Upload) { u.Reports = nil }, "no SARIF report"},
		{"not JSON", func(u *Upload) { u.Reports = map[string][]byte{"x": []byte("<xml/>")} }, "SARIF report x"},
		{"too big", func(u *Upload) {
			noise := make([]byte, 12<<20)
			rand.Read(noise) // random bytes compress only to their base64 alphabet
			u.Reports = map[string][]byte{"x": []byte(`{"version":"2.1.0","runs":[{"properties":{"noise":"` + base64.StdEncoding.EncodeToString(noise) + `"}}]}`)}
		}, "more than GitHub's"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := good
			tt.edit(&u)
			if _, err := u.Do(context.Background()); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Do: %v, want %q", err, tt.want)
			}
		})
	}
}

// After the upload, the run asks how GitHub processed it until it is
// complete or failed, at the given pauses (here immediate: the stand-in
// says how many looks it takes), and says when it is still pending.
func TestProcessed(t *testing.T) {
	tests := []struct {
		name     string
		statuses []string // what each look gets
		errors   []string
		wantErr  string // "" for nil
		looks    int
	}{
		{"complete after two looks", []string{"pending", "complete"}, nil, "", 2},
		{"failed", []string{"failed"}, []string{"locationFromSarifResult: expected artifact location"}, "rejected upload u1: locationFromSarifResult", 1},
		{"still pending", []string{"pending", "pending", "pending"}, nil, "still being processed after 6s", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			looks := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/repos/acme/app/code-scanning/sarifs/u1" || r.Header.Get("Authorization") != "Bearer t" {
					w.WriteHeader(http.StatusNotFound)
					return
				}
				st := tt.statuses[min(looks, len(tt.statuses)-1)]
				looks++
				json.NewEncoder(w).Encode(map[string]any{"processing_status": st, "errors": tt.errors})
			}))
			defer srv.Close()
			now := func(time.Duration) <-chan time.Time {
				c := make(chan time.Time, 1)
				c <- time.Time{}
				return c
			}
			u := Upload{APIURL: srv.URL, Repository: "acme/app", Token: "t"}
			err := u.Processed(context.Background(), "u1", []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}, now)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Processed: %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Processed: %v, want it to say %q", err, tt.wantErr)
			}
			if looks != tt.looks {
				t.Errorf("%d looks, want %d", looks, tt.looks)
			}
		})
	}
}
