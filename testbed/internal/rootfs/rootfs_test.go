package rootfs

import (
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
)

func TestKey(t *testing.T) {
	a := Spec{Name: "x", Include: []string{"git", "ca-certificates"}, Post: "true"}
	b := Spec{Name: "x", Include: []string{"ca-certificates", "git"}, Post: "true"}
	if a.Key() != b.Key() {
		t.Error("package order changes the key")
	}
	for name, other := range map[string]Spec{
		"packages": {Name: "x", Include: []string{"git"}, Post: "true"},
		"post":     {Name: "x", Include: a.Include, Post: "echo changed"},
	} {
		if other.Key() == a.Key() {
			t.Errorf("key ignores the %s", name)
		}
	}
	p := Path(cache.Dir("/c"), a)
	if !strings.HasPrefix(p, "/c/layers/rootfs-x-bookworm-") || !strings.HasSuffix(p, ".tar.gz") {
		t.Errorf("Path = %s", p)
	}
}
