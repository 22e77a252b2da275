// Package labels computes the OCI annotations Gantry puts on the image.
package labels

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Input is what the labels are computed from.
type Input struct {
	Repository    string    // OWNER/REPO on GitHub; links the GHCR package to it
	Image         string    // image name, for the title when Title is empty
	SHA           string    // full commit SHA
	CommitTime    time.Time // the commit's time: a rebuild of the same commit gets the same labels
	Version       string
	Title         string
	Description   string
	License       string // SPDX expression
	Vendor        string
	Documentation string // URL
}

// OCI returns the org.opencontainers.image.* labels.
func OCI(in Input) (map[string]string, error) {
	if in.SHA == "" {
		return nil, fmt.Errorf("computing labels: commit SHA is empty")
	}
	if in.CommitTime.IsZero() {
		return nil, fmt.Errorf("computing labels: commit time is unknown")
	}
	title := in.Title
	if title == "" && in.Image != "" {
		title = path.Base(in.Image)
	}
	l := map[string]string{
		"org.opencontainers.image.revision": in.SHA,
		"org.opencontainers.image.created":  in.CommitTime.UTC().Format(time.RFC3339),
		"org.opencontainers.image.version":  in.Version,
	}
	if in.Repository != "" {
		l["org.opencontainers.image.source"] = "https://github.com/" + strings.TrimSuffix(in.Repository, ".git")
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.title":         title,
		"org.opencontainers.image.description":   in.Description,
		"org.opencontainers.image.licenses":      in.License,
		"org.opencontainers.image.vendor":        in.Vendor,
		"org.opencontainers.image.documentation": in.Documentation,
	} {
		if v != "" {
			l[k] = v
		}
	}
	return l, nil
}
