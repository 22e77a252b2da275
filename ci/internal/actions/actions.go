// Package actions writes what GitHub Actions reads from a step: workflow
// commands on standard output (a folded group per stage, an error or
// warning annotation), and step outputs in the file $GITHUB_OUTPUT names.
// It escapes what it writes the way the runner parses it, so a stage's
// output or an error message can't end a group early or forge a command.
package actions

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// escapeData escapes a command's message: %, CR and LF.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a command's property value: also : and ,.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// Group writes body as a folded group titled title. Lines of body that
// would read as workflow commands are stopped from running: the runner
// ignores commands between ::stop-commands::TOKEN and ::TOKEN::.
func Group(w io.Writer, title, body string) {
	token := nonce()
	fmt.Fprintf(w, "::group::%s\n::stop-commands::%s\n", escapeData(title), token)
	io.WriteString(w, body)
	if body != "" && !strings.HasSuffix(body, "\n") {
		io.WriteString(w, "\n")
	}
	fmt.Fprintf(w, "::%s::\n::endgroup::\n", token)
}

// Error writes an error annotation, which GitHub shows on the run's page.
func Error(w io.Writer, title, message string) { annotate(w, "error", title, message) }

// Warning writes a warning annotation.
func Warning(w io.Writer, title, message string) { annotate(w, "warning", title, message) }

func annotate(w io.Writer, level, title, message string) {
	fmt.Fprintf(w, "::%s title=%s::%s\n", level, escapeProperty(title), escapeData(message))
}

// Output is one step output.
type Output struct{ Name, Value string }

// WriteOutputs writes outputs in $GITHUB_OUTPUT's format: name=value, or
// for a value with a line break, name<<DELIMITER, the value, DELIMITER,
// with a delimiter the value does not contain.
func WriteOutputs(w io.Writer, outputs []Output) error {
	var b strings.Builder
	for _, o := range outputs {
		if !strings.ContainsAny(o.Value, "\r\n") {
			fmt.Fprintf(&b, "%s=%s\n", o.Name, o.Value)
			continue
		}
		delim := "gantry_" + nonce()
		for strings.Contains(o.Value, delim) {
			delim = "gantry_" + nonce()
		}
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", o.Name, delim, strings.TrimSuffix(o.Value, "\n"), delim)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func nonce() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Warnings returns a writer that passes w what it is written, a line at a
// time, except lines that start with prefix: those become warning
// annotations titled title, with the rest of the line as the message.
func Warnings(w io.Writer, prefix, title string) io.Writer {
	return &warnings{w: w, prefix: prefix, title: title}
}

type warnings struct {
	w             io.Writer
	prefix, title string
	partial       []byte
}

func (ww *warnings) Write(p []byte) (int, error) {
	ww.partial = append(ww.partial, p...)
	for {
		i := strings.IndexByte(string(ww.partial), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(ww.partial[:i+1])
		ww.partial = ww.partial[i+1:]
		if msg, ok := strings.CutPrefix(line, ww.prefix); ok {
			Warning(ww.w, ww.title, strings.TrimSuffix(msg, "\n"))
			continue
		}
		if _, err := io.WriteString(ww.w, line); err != nil {
			return len(p), err
		}
	}
}
