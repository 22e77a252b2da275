package labels

import (
	"maps"
	"testing"
	"time"
)

func TestOCI(t *testing.T) {
	when := time.Date(2026, 11, 2, 15, 4, 5, 0, time.FixedZone("CET", 3600))
	sha := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name    string
		in      Input
		want    map[string]string
		wantErr bool
	}{
		{
			name: "all fields, time in UTC, mixed-case repository kept for the URL",
			in: Input{Repository: "Gantry-CI/Gantry", Image: "gantry-ci/gantry", SHA: sha, CommitTime: when, Version: "1.2.3", Description: "d", License: "MIT",
				Vendor: "Acme", Documentation: "https://acme.example/app"},
			want: map[string]string{
				"org.opencontainers.image.source":        "https://github.com/Gantry-CI/Gantry",
				"org.opencontainers.image.revision":      sha,
				"org.opencontainers.image.created":       "2026-11-02T14:04:05Z",
				"org.opencontainers.image.version":       "1.2.3",
				"org.opencontainers.image.title":         "gantry",
				"org.opencontainers.image.description":   "d",
				"org.opencontainers.image.licenses":      "MIT",
				"org.opencontainers.image.vendor":        "Acme",
				"org.opencontainers.image.documentation": "https://acme.example/app",
			},
		},
		{
			name: "no repository: no source label",
			in:   Input{Image: "local/app", SHA: sha, CommitTime: when, Version: "0123456789ab", Title: "app"},
			want: map[string]string{
				"org.opencontainers.image.revision": sha,
				"org.opencontainers.image.created":  "2026-11-02T14:04:05Z",
				"org.opencontainers.image.version":  "0123456789ab",
				"org.opencontainers.image.title":    "app",
			},
		},
		{name: "missing sha", in: Input{CommitTime: when}, wantErr: true},
		{name: "missing commit time", in: Input{SHA: sha}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OCI(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !maps.Equal(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}
