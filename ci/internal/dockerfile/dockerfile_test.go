package dockerfile

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRuntime(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		target  string
		want    Stage
		wantErr string
	}{
		{
			name: "last stage wins, flags and continuation",
			in: `FROM golang AS build
USER 0
HEALTHCHECK CMD ["/bin/true"]
# runtime
FROM static
USER 65532:65532
HEALTHCHECK --interval=10s --timeout=3s \
  --start-period=5s --retries=3 \
  CMD ["/app", "healthcheck"]
`,
			want: Stage{User: "65532:65532", Healthcheck: &Healthcheck{Test: []string{"CMD", "/app", "healthcheck"}, Interval: 10 * time.Second, Timeout: 3 * time.Second, StartPeriod: 5 * time.Second, Retries: 3}},
		},
		{name: "healthcheck of an earlier stage does not leak", in: "FROM a\nHEALTHCHECK CMD [\"x\"]\nFROM b\nUSER 1\n", want: Stage{User: "1"}},
		{name: "NONE", in: "from a\nhealthcheck none\n", want: Stage{}},
		{name: "shell form", in: "FROM a\nHEALTHCHECK CMD curl -f http://localhost/\n", want: Stage{Healthcheck: &Healthcheck{Test: []string{"CMD-SHELL", "curl -f http://localhost/"}}}},
		{name: "no FROM", in: "USER 1\n", wantErr: "no FROM"},
		{name: "bad duration", in: "FROM a\nHEALTHCHECK --interval=soon CMD [\"x\"]\n", wantErr: "line 2: HEALTHCHECK: --interval"},
		{name: "bad json", in: "FROM a\nHEALTHCHECK CMD [\"x\"\n", wantErr: "exec form"},
		{name: "unknown flag", in: "FROM a\nHEALTHCHECK --every=1s CMD [\"x\"]\n", wantErr: "unknown flag --every"},
		{name: "a target in the middle", in: "FROM a AS build\nUSER 0\nFROM b AS runtime\nUSER 65532\nHEALTHCHECK CMD [\"/app\"]\nFROM b AS debug\nUSER 0\n",
			target: "runtime", want: Stage{User: "65532", Healthcheck: &Healthcheck{Test: []string{"CMD", "/app"}}}},
		{name: "a target named in another case, last", in: "FROM a AS build\nUSER 0\nfrom b as Runtime\nUSER 1\n", target: "runtime", want: Stage{User: "1"}},
		{name: "a target with no settings", in: "FROM a AS plain\nFROM b AS other\nUSER 1\n", target: "plain", want: Stage{}},
		{name: "no such target", in: "FROM a AS build\nFROM b AS runtime\n", target: "prod", wantErr: `no stage called "prod" (the stages named: build, runtime)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Runtime(tt.in, tt.target)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v (hc %+v)\nwant %+v (hc %+v)", got, got.Healthcheck, tt.want, tt.want.Healthcheck)
			}
		})
	}
}
