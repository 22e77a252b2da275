package dockerfile

import "strings"

// ContextExcludes turns a .dockerignore into exclude patterns for uploading
// the build context, keeping the Dockerfile, which Docker sends even when
// .dockerignore excludes it. Comments and blank lines are dropped; "!"
// exceptions keep their meaning, and the last matching pattern wins.
func ContextExcludes(dockerignore string) []string {
	var patterns []string
	for _, line := range strings.Split(dockerignore, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		patterns = append(patterns, line)
	}
	if len(patterns) == 0 {
		return nil
	}
	return append(patterns, "!Dockerfile")
}
