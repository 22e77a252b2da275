module example.com/hello-node/ci

go 1.26.0

// No require of github.com/gantry-ci/gantry/ci: the e2e copies write a
// go.work that uses this checkout's, where an adopter requires a release.
