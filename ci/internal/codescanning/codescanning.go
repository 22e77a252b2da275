// Package codescanning uploads the scan's findings to a GitHub repository's
// code scanning, as github/codeql-action's upload-sarif does: the SARIF
// reports (one run per platform) merged into one document, gzipped and
// base64-encoded, posted to the REST endpoint for a commit and ref.
package codescanning

import (
	"bytes"
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
	client := u.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
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
