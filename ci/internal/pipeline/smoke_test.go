package pipeline

import (
	"strings"
	"testing"
)

func TestCheckUser(t *testing.T) {
	for _, tt := range []struct {
		user, want string
		err        string // in the error; "" for none
	}{
		{user: "65532:65532", want: "65532"},
		{user: "65532", want: "65532"},
		{user: "node", want: "node"},
		{user: "1000:1000"},
		{user: "nobody"},
		{user: "1000", want: "65532", err: `the image runs as user "1000", the contract says 65532`},
		{user: "", err: "the image runs as root"},
		{user: "0:0", err: "the image runs as root"},
		{user: "root", err: "the image runs as root"},
		{user: "", want: "65532", err: "the contract says 65532"},
	} {
		err := checkUser(tt.user, tt.want)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("checkUser(%q, %q) = %v, want nil", tt.user, tt.want, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("checkUser(%q, %q) = %v, want it to say %q", tt.user, tt.want, err, tt.err)
		}
	}
}

// A failed probe's cause is its last attempt's answer.
func TestLastAnswer(t *testing.T) {
	out := "attempt 1: GET /health -> wget: can't connect to remote host: Connection refused\n" +
		"attempt 2: GET /health -> 2xx without \"db\":\"up\": {\"db\":\"down\"}\n" +
		"GET /health: no 200 within 30s\n"
	if got, want := lastAnswer(out), `GET /health -> 2xx without "db":"up": {"db":"down"}`; got != want {
		t.Errorf("lastAnswer = %q, want %q", got, want)
	}
	if got := lastAnswer("GET /health: no 200 within 30s\n"); got != "" {
		t.Errorf("lastAnswer of no attempt = %q", got)
	}
}
