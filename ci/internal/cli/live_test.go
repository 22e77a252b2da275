package cli

import (
	"os"
	"testing"

	"github.com/creack/pty"
)

// The stages show live only where both outputs are a terminal and nothing
// asks for plain lines: GitHub Actions' log, TERM=dumb, GANTRY_PROGRESS=plain,
// a JSON run, or a pipe get plain lines.
func TestLiveTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	tests := []struct {
		name           string
		stdout, stderr *os.File
		env            map[string]string
		json, live     bool
	}{
		{"a terminal", tty, tty, nil, false, true},
		{"GitHub Actions", tty, tty, map[string]string{"GITHUB_ACTIONS": "true"}, false, false},
		{"TERM=dumb", tty, tty, map[string]string{"TERM": "dumb"}, false, false},
		{"GANTRY_PROGRESS=plain", tty, tty, map[string]string{"GANTRY_PROGRESS": "plain"}, false, false},
		{"--output json", tty, tty, nil, true, false},
		{"stdout a pipe", w, tty, nil, false, false},
		{"stderr a pipe", tty, w, nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := liveTerminal(tt.stdout, tt.stderr, func(k string) string { return tt.env[k] }, tt.json)
			if (got != nil) != tt.live {
				t.Errorf("live display: %v, want %v", got != nil, tt.live)
			}
		})
	}
}
