package dockerd

import (
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	got := strings.Join(Args([]string{"172.17.0.1:5000", "172.17.0.1/32"}), " ")
	want := "dockerd --insecure-registry 172.17.0.1:5000 --insecure-registry 172.17.0.1/32"
	if got != want {
		t.Errorf("Args = %q, want %q", got, want)
	}
}
