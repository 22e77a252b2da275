package dockerfile

import (
	"fmt"
	"io"

	"github.com/moby/patternmatcher/ignorefile"
)

// ContextExcludes reads a .dockerignore with BuildKit's own parser and
// returns the exclude patterns for uploading the build context. It keeps
// the Dockerfile, which Docker sends even when .dockerignore excludes it.
// Without patterns it returns nil.
func ContextExcludes(dockerignore io.Reader) ([]string, error) {
	patterns, err := ignorefile.ReadAll(dockerignore)
	if err != nil {
		return nil, fmt.Errorf("reading .dockerignore: %w", err)
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	return append(patterns, "!Dockerfile"), nil
}
