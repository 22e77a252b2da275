// Package version reports which build of the service is running. Version and
// Commit are stamped at build time:
//
//	go build -ldflags "-X github.com/gantry-ci/gantry/app/internal/version.Version=v1.2.3 \
//	  -X github.com/gantry-ci/gantry/app/internal/version.Commit=abc1234" ./app
package version

import (
	"runtime"
	"runtime/debug"
)

// Stamped by the linker; see the package comment. They are variables, not
// constants, because -X can only set string variables.
var (
	Version = "dev"
	Commit  = "unknown"
)

// Info is what /version and /health report.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go"`
}

// Get returns the stamped values, falling back to the module version and VCS
// details the Go toolchain embeds when the build was not stamped (go install,
// go run).
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(Version, Commit, bi)
}

func resolve(ver, commit string, bi *debug.BuildInfo) Info {
	// An empty build argument stamps an empty string; treat it as unset.
	if ver == "" {
		ver = "dev"
	}
	if commit == "" {
		commit = "unknown"
	}
	info := Info{Version: ver, Commit: commit, GoVersion: runtime.Version()}
	if bi == nil {
		return info
	}
	if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if info.Commit == "unknown" {
		var rev string
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			info.Commit = rev
			if dirty {
				info.Commit += "-dirty"
			}
		}
	}
	return info
}
