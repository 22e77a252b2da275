// Package codescanning uploads the scan's findings to a GitHub repository's
// code scanning, as github/codeql-action's upload-sarif does: the SARIF
// reports (one run per platform) merged into one document, gzipped and
// base64-encoded, posted to the REST endpoint for a commit and ref.
package codescanning

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// MaxGzipped is the largest upload GitHub accepts: 10 MB of gzipped SARIF.
const MaxGzipped = 10 << 20

// Upload is one upload of SARIF reports.
type Upload struct {
	APIURL     string // GITHUB_API_URL, e.g. https://api.github.com
	Repository string // OWNER/REPO
	Token      string // with security-events: write
	Commit     string // the full SHA the findings are for
	Ref        string // refs/heads/…, refs/tags/…, refs/pull/N/merge
	// Reports are SARIF documents by category, e.g. "linux-amd64": each
	// becomes a run whose automationDetails.id is gantry/CATEGORY/.
	Reports map[string][]byte
	Client  *http.Client // nil: http.DefaultClient
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Do uploads u and returns the id GitHub gives the upload.
func (u Upload) Do(ctx context.Context) (string, error) {
	if !shaRE.MatchString(u.Commit) {
		return "", fmt.Errorf("uploading to code scanning: commit %q is not a full SHA", u.Commit)
	}
	if !strings.HasPrefix(u.Ref, "refs/") {
		return "", fmt.Errorf("uploading to code scanning: ref %q is not a full ref (refs/heads/main)", u.Ref)
	}
	sarif, err := Merge(u.Reports)
	if err != nil {
		return "", err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(sarif)
	if err := zw.Close(); err != nil {
		return "", err
	}
	if gz.Len() > MaxGzipped {
		return "", fmt.Errorf("uploading to code scanning: the SARIF is %d bytes gzipped, more than GitHub's %d", gz.Len(), MaxGzipped)
	}
	body, err := json.Marshal(map[string]string{"commit_sha": u.Commit, "ref": u.Ref,
		"sarif": base64.StdEncoding.EncodeToString(gz.Bytes()), "tool_name": "Trivy (Gantry)"})
	if err != nil {
		return "", err
	}
	url := strings.TrimSuffix(u.APIURL, "/") + "/repos/" + u.Repository + "/code-scanning/sarifs"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+u.Token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Content-Type", "application/json")
	resp, err := cmp.Or(u.Client, http.DefaultClient).Do(req)
	if err != nil {
		return "", fmt.Errorf("uploading to code scanning: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusAccepted {
		msg := strings.TrimSpace(string(data))
		var e struct{ Message string }
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		hint := ""
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound {
			hint = " (the job needs `permissions: security-events: write`, and code scanning must be on for the repository)"
		}
		return "", fmt.Errorf("uploading to code scanning: %s: %s%s", resp.Status, msg, hint)
	}
	var ok struct{ ID string }
	json.Unmarshal(data, &ok)
	return ok.ID, nil
}

// Processed waits until GitHub has processed the upload id, asking at the
// given pauses (pause(d) is a channel that fires after d; the last pause
// ends the wait): nil once it is complete, the errors GitHub found when it
// failed, or an error saying it is still pending. What codeql-action's
// upload-sarif checks after its upload.
func (u Upload) Processed(ctx context.Context, id string, pauses []time.Duration, pause func(time.Duration) <-chan time.Time) error {
	url := strings.TrimSuffix(u.APIURL, "/") + "/repos/" + u.Repository + "/code-scanning/sarifs/" + id
	client := cmp.Or(u.Client, http.DefaultClient)
	var waited time.Duration
	for _, d := range pauses {
		select {
		case <-pause(d):
		case <-ctx.Done():
			return fmt.Errorf("code scanning upload %s: %w", id, ctx.Err())
		}
		waited += d
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+u.Token)
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("code scanning upload %s: %w", id, err)
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("code scanning upload %s: %s: %s", id, resp.Status, strings.TrimSpace(string(data)))
		}
		var st struct {
			ProcessingStatus string   `json:"processing_status"`
			Errors           []string `json:"errors"`
		}
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("code scanning upload %s: %w", id, err)
		}
		switch st.ProcessingStatus {
		case "complete":
			return nil
		case "failed":
			return fmt.Errorf("code scanning rejected upload %s: %s", id, strings.Join(st.Errors, "; "))
		}
	}
	return fmt.Errorf("code scanning upload %s is still being processed after %s", id, waited)
}

// Pauses are how long Processed waits before each look: about two
// minutes in all.
var Pauses = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second,
	30 * time.Second, 30 * time.Second, 30 * time.Second}

// Merge combines SARIF documents into one, each run tagged with its
// category (runs[].automationDetails.id), so that each platform's findings
// are their own analysis.
func Merge(reports map[string][]byte) ([]byte, error) {
	if len(reports) == 0 {
		return nil, fmt.Errorf("no SARIF report to upload")
	}
	var merged map[string]any
	var runs []any
	for _, category := range slices.Sorted(maps.Keys(reports)) {
		var doc map[string]any
		if err := json.Unmarshal(reports[category], &doc); err != nil {
			return nil, fmt.Errorf("SARIF report %s: %w", category, err)
		}
		docRuns, _ := doc["runs"].([]any)
		for _, r := range docRuns {
			if run, ok := r.(map[string]any); ok {
				run["automationDetails"] = map[string]any{"id": "gantry/" + category + "/"}
				runs = append(runs, run)
			}
		}
		if merged == nil {
			merged = doc
		}
	}
	merged["runs"] = runs
	return json.Marshal(merged)
}
