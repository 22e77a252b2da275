package imageref

import "testing"

const digest = "sha256:9c63108afca75b0545031f4fba518bc810058c41aa2c9fc27dbfac25eea70df7"

func TestTag(t *testing.T) {
	for ref, want := range map[string]string{
		"ghcr.io/owner/app:1.4.2@" + digest: "1.4.2",
		"172.17.0.1:5000/e2e/app:latest":    "latest",
		"172.17.0.1:5000/e2e/app@" + digest: "",
		"172.17.0.1:5000/e2e/app":           "",
		"localhost:5000/app:v1.5-alpine":    "v1.5-alpine",
		"postgres:18.4-alpine@" + digest:    "18.4-alpine",
		"not a reference":                   "",
	} {
		if got := Tag(ref); got != want {
			t.Errorf("Tag(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestRegistry(t *testing.T) {
	for ref, want := range map[string]string{
		"172.17.0.1:5000/testbed/postgres:15@" + digest: "172.17.0.1:5000",
		"ghcr.io/owner/app:1":                           "ghcr.io",
		"postgres:18.4-alpine@" + digest:                "docker.io",
		"localhost:5000/app":                            "localhost:5000",
		"UPPER/case":                                    "",
	} {
		if got := Registry(ref); got != want {
			t.Errorf("Registry(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestSplit(t *testing.T) {
	if tagged, d, ok := Split("ghcr.io/o/app:1.4@" + digest); !ok || tagged != "ghcr.io/o/app:1.4" || d != digest {
		t.Errorf("Split = %q, %q, %v", tagged, d, ok)
	}
	for _, ref := range []string{"ghcr.io/o/app@" + digest, "ghcr.io/o/app:1.4", "ghcr.io/o/app:1.4@sha256:abc"} {
		if _, _, ok := Split(ref); ok {
			t.Errorf("Split(%q) ok", ref)
		}
	}
}
