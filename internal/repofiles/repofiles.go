// Package repofiles holds this repository's checks of its own files: the
// workflow's trust rules and the pins of the Dockerfile and compose.yaml.
// They are the repository's, not Gantry's (a project that imports Gantry
// has files of its own), so they live in the root module, whose tests the
// pipeline runs, and check properties rather than literal values: a
// Dependabot bump of an action or an image passes them.
package repofiles
