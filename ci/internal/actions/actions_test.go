package actions

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
)

// readOutputs parses $GITHUB_OUTPUT the way the runner does (its file
// command format: name=value, or name<<DELIMITER … DELIMITER).
func readOutputs(t *testing.T, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var value []string
			for {
				if !sc.Scan() {
					t.Fatalf("output %s: no closing %s", name, delim)
				}
				if sc.Text() == delim {
					break
				}
				value = append(value, sc.Text())
			}
			out[name] = strings.Join(value, "\n")
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %q is neither name=value nor name<<DELIMITER", line)
		}
		out[name] = value
	}
	return out
}

func TestWriteOutputs(t *testing.T) {
	outputs := []Output{
		{"digest", "sha256:abc"},
		{"tags", "ghcr.io/o/app:1.4.2\nghcr.io/o/app:latest"},
		{"json", `{"tags":["a"]}`},
		{"tricky", "a line\nghcr_EOF\n=x"},
	}
	var b strings.Builder
	if err := WriteOutputs(&b, outputs); err != nil {
		t.Fatal(err)
	}
	got := readOutputs(t, b.String())
	for _, o := range outputs {
		if got[o.Name] != o.Value {
			t.Errorf("output %s = %q, want %q\nfile:\n%s", o.Name, got[o.Name], o.Value, b.String())
		}
	}
}

// A message's line breaks and percent signs stay in the annotation, and
// can't start another command; a title can't end its property.
func TestAnnotations(t *testing.T) {
	var b strings.Builder
	Error(&b, "gantry: scan failed, see below", "2 finding(s)\n::warning::forged 100%")
	want := "::error title=gantry%3A scan failed%2C see below::2 finding(s)%0A::warning::forged 100%25\n"
	if b.String() != want {
		t.Errorf("Error wrote %q, want %q", b.String(), want)
	}
	b.Reset()
	Warning(&b, "latest", "stays")
	if b.String() != "::warning title=latest::stays\n" {
		t.Errorf("Warning wrote %q", b.String())
	}
}

// A stage's output is folded, and a line in it that reads as a command
// does not run: the runner stops commands until the group's token.
func TestGroup(t *testing.T) {
	var b strings.Builder
	Group(&b, "gantry: test", "ok  \tpkg\n::error::forged by a test's output\n")
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if lines[0] != "::group::gantry: test" || lines[len(lines)-1] != "::endgroup::" {
		t.Fatalf("not one group: %q", lines)
	}
	stop := regexp.MustCompile(`^::stop-commands::([0-9a-f]{16})$`).FindStringSubmatch(lines[1])
	if stop == nil {
		t.Fatalf("line 2 %q does not stop commands", lines[1])
	}
	if lines[len(lines)-2] != fmt.Sprintf("::%s::", stop[1]) {
		t.Errorf("commands are not resumed with the token: %q", lines)
	}
	if !strings.Contains(b.String(), "::error::forged by a test's output\n") {
		t.Error("the body is not written as it is")
	}
	var c strings.Builder
	Group(&c, "x", "y")
	if strings.Contains(c.String(), stop[1]) {
		t.Error("two groups share a token: a body could resume commands")
	}
}

// The pipeline's warning lines become annotations; its other lines pass as
// they are, written whole or in pieces.
func TestWarnings(t *testing.T) {
	var b strings.Builder
	w := Warnings(&b, "gantry: warning: ", "gantry")
	io.WriteString(w, "gantry: build started\ngantry: warn")
	io.WriteString(w, "ing: layer cache x: 50% stale\n")
	io.WriteString(w, "done\n")
	want := "gantry: build started\n::warning title=gantry::layer cache x: 50%25 stale\ndone\n"
	if b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
}
