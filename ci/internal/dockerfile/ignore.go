package dockerfile

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/moby/patternmatcher/ignorefile"
)

// ContextExcludes reads a .dockerignore with BuildKit's own parser and
// returns the exclude patterns for uploading the build context. It keeps
// the Dockerfile (its path in the context), which Docker sends even when
// .dockerignore excludes it. Without patterns it returns nil.
func ContextExcludes(dockerignore io.Reader, dockerfile string) ([]string, error) {
	patterns, err := ignorefile.ReadAll(dockerignore)
	if err != nil {
		return nil, fmt.Errorf("reading .dockerignore: %w", err)
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	return append(patterns, "!"+filepath.ToSlash(dockerfile)), nil
}
