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
