package version

import (
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{
			Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: rev},
				{Key: "vcs.modified", Value: modified},
			},
		}
	}
	tests := []struct {
		name                string
		ver, commit         string
		bi                  *debug.BuildInfo
		wantVer, wantCommit string
	}{
		{"defaults without build info", "dev", "unknown", nil, "dev", "unknown"},
		{"empty stamps count as unset", "", "", nil, "dev", "unknown"},
		{"stamped values win", "v1.2.3", "abc", vcs("def", "false"), "v1.2.3", "abc"},
		{"vcs revision fills commit", "dev", "unknown", vcs("def", "false"), "dev", "def"},
		{"dirty tree is marked", "dev", "unknown", vcs("def", "true"), "dev", "def-dirty"},
		{"module version fills version", "dev", "unknown", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}}, "v0.4.0", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.ver, tt.commit, tt.bi)
			if got.Version != tt.wantVer || got.Commit != tt.wantCommit {
				t.Errorf("resolve() = %q/%q, want %q/%q", got.Version, got.Commit, tt.wantVer, tt.wantCommit)
			}
			if got.GoVersion == "" {
				t.Error("GoVersion is empty")
			}
		})
	}
}
