package platforms

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in                  string
		goos, goarch, goarm string
		want                string // in the error; "" for none
	}{
		{in: "linux/amd64", goos: "linux", goarch: "amd64"},
		{in: "linux/arm64", goos: "linux", goarch: "arm64"},
		{in: "linux/arm/v7", goos: "linux", goarch: "arm", goarm: "7"},
		{in: "linux/arm/v6", goos: "linux", goarch: "arm", goarm: "6"},
		{in: "linux/s390x", goos: "linux", goarch: "s390x"},
		{in: "linux/arm", want: `"linux/arm": arm needs a variant, one of v6, v7, e.g. linux/arm/v7`},
		{in: "linux/amd64/v3", want: `"linux/amd64/v3": amd64 takes no variant: write linux/amd64`},
		{in: "windows/amd64", want: "images run on linux here, not windows"},
		{in: "linux/sparc", want: "architecture sparc is not one Gantry builds (386, amd64, arm, arm64, ppc64le, riscv64, s390x)"},
		{in: "amd64", want: `"amd64" is not os/arch[/variant]`},
		{in: "linux/arm/v7/x", want: "is not os/arch[/variant]"},
		{in: "", want: "is not os/arch[/variant]"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			p, err := Parse(tt.in)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Parse(%q) = %v, want an error saying %q", tt.in, err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			goos, goarch, goarm := GoEnv(p)
			if goos != tt.goos || goarch != tt.goarch || goarm != tt.goarm {
				t.Errorf("GoEnv = %s %s %q, want %s %s %q", goos, goarch, goarm, tt.goos, tt.goarch, tt.goarm)
			}
		})
	}
}
