package verify

import "testing"

func TestText(t *testing.T) {
	tests := []struct {
		name string
		r    Report
		want string
	}{
		{
			name: "all pass",
			r:    Report{Digest: "sha256:d", Checks: []Check{{Name: "signature", OK: true, Detail: "signed"}, {Name: "scan", OK: true, Detail: "clean"}}},
			want: "✓ signature: signed\n✓ scan: clean\nverified r/app:v1@sha256:d\n",
		},
		{
			name: "one fails",
			r:    Report{Digest: "sha256:d", Checks: []Check{{Name: "signature", OK: true, Detail: "signed"}, {Name: "scan", Detail: "failing: CVE-1"}}},
			want: "✓ signature: signed\n✗ scan: failing: CVE-1\nNOT verified: 1 of 2 checks failed for r/app:v1@sha256:d\n",
		},
		{
			name: "no checks is not verified",
			r:    Report{Digest: "sha256:d"},
			want: "NOT verified: 0 of 0 checks failed for r/app:v1@sha256:d\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Text("r/app:v1"); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
