// Package platforms decides which image platforms Gantry builds: Linux on
// the architectures that Go, and so the publisher, runs on.
package platforms

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// arches are the architectures a platform may name, and the variants each
// takes ("" for none).
var arches = map[string][]string{
	"amd64":   {""},
	"arm64":   {""},
	"arm":     {"v6", "v7"},
	"386":     {""},
	"ppc64le": {""},
	"s390x":   {""},
	"riscv64": {""},
}

// Parse checks that s names a platform Gantry builds (os/arch[/variant],
// e.g. linux/arm/v7) and returns it.
func Parse(s string) (v1.Platform, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil || strings.Count(s, "/") > 2 || p.OS == "" || p.Architecture == "" || p.OSVersion != "" {
		return v1.Platform{}, fmt.Errorf("%q is not os/arch[/variant], e.g. linux/amd64", s)
	}
	variants, ok := arches[p.Architecture]
	switch {
	case p.OS != "linux":
		return v1.Platform{}, fmt.Errorf("%q: images run on linux here, not %s", s, p.OS)
	case !ok:
		return v1.Platform{}, fmt.Errorf("%q: architecture %s is not one Gantry builds (%s)", s, p.Architecture, strings.Join(slices.Sorted(maps.Keys(arches)), ", "))
	case !slices.Contains(variants, p.Variant):
		if variants[0] == "" {
			return v1.Platform{}, fmt.Errorf("%q: %s takes no variant: write linux/%s", s, p.Architecture, p.Architecture)
		}
		return v1.Platform{}, fmt.Errorf("%q: %s needs a variant, one of %s, e.g. linux/%s/%s", s, p.Architecture, strings.Join(variants, ", "), p.Architecture, variants[len(variants)-1])
	}
	return *p, nil
}

// GoEnv is how Go targets p: GOOS, GOARCH and, for arm, GOARM.
func GoEnv(p v1.Platform) (goos, goarch, goarm string) {
	if p.Architecture == "arm" {
		goarm = strings.TrimPrefix(p.Variant, "v")
	}
	return p.OS, p.Architecture, goarm
}
