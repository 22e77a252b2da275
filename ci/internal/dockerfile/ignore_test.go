package dockerfile

import (
	"slices"
	"testing"
)

func TestContextExcludes(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"only comments", "# nothing\n\n", nil},
		{"allowlist", "# allow\n*\n!go.mod\n!app/\n\n  docs  \n", []string{"*", "!go.mod", "!app/", "docs", "!Dockerfile"}},
		{"denylist", ".git\n**/*_test.go", []string{".git", "**/*_test.go", "!Dockerfile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ContextExcludes(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("ContextExcludes = %q, want %q", got, tt.want)
			}
		})
	}
}
