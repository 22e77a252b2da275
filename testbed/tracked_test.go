package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxTrackedSize is the largest file the repository may track: anything
// bigger is a build output or data that belongs elsewhere.
const maxTrackedSize = 1 << 20

// No tracked file is a build output: an executable binary or a file over
// 1 MB. Nobody reviews a binary's contents, yet CI and `go run ./ci` would
// run it (ci/gantry-publish, a 58 MB build of the publisher, was tracked until
// December 2026).
func TestNoBuildOutputIsTracked(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "ls-files", "-z", "--stage")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files in %s: %v (the test needs the git checkout)", root, err)
	}
	entries := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(entries) < 10 {
		t.Fatalf("git ls-files lists %d files, want the repository", len(entries))
	}
	for _, e := range entries {
		// "MODE OBJECT STAGE\tPATH"
		meta, name, ok := strings.Cut(e, "\t")
		if !ok {
			t.Fatalf("git ls-files --stage: unexpected line %q", e)
		}
		mode, _, _ := strings.Cut(meta, " ")
		if mode == "120000" || mode == "160000" { // symlink, submodule
			continue
		}
		if why := trackedProblem(t, filepath.Join(root, name), mode == "100755"); why != "" {
			t.Errorf("%s is tracked but %s: `git rm --cached %s`, and ignore it in .gitignore", name, why, name)
		}
	}
}

// trackedProblem says why the file must not be tracked, or "".
func trackedProblem(t *testing.T, path string, executable bool) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 8000)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		t.Fatal(err)
	}
	return buildOutput(st.Size(), head[:n], executable)
}

// executableMagic are the first bytes of the executable formats Go builds:
// ELF, Mach-O (32/64-bit, both byte orders, universal) and PE.
var executableMagic = [][]byte{
	[]byte("\x7fELF"),
	{0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf},
	{0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe},
	{0xca, 0xfe, 0xba, 0xbe},
	[]byte("MZ"),
}

// buildOutput says why a file of that size, starting with head, is a build
// output, or "".
func buildOutput(size int64, head []byte, executable bool) string {
	for _, m := range executableMagic {
		if bytes.HasPrefix(head, m) {
			return "an executable binary"
		}
	}
	// git's own test for binary content: a NUL in the first 8000 bytes.
	if executable && bytes.IndexByte(head, 0) >= 0 {
		return "an executable binary (mode 755, binary content)"
	}
	if size > maxTrackedSize {
		return fmt.Sprintf("%.1f MB (the limit is 1 MB)", float64(size)/(1<<20))
	}
	return ""
}

func TestBuildOutput(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size       int64
		head       string
		executable bool
		bad        bool
	}{
		{"Go source", 2000, "package main\n", false, false},
		{"shell script", 300, "#!/usr/bin/env bash\nset -e\n", true, false},
		{"Linux binary", 58 << 20, "\x7fELF\x02\x01\x01\x00", true, true},
		{"Linux binary, not executable", 4000, "\x7fELF\x02\x01\x01\x00", false, true},
		{"macOS binary", 4000, "\xcf\xfa\xed\xfe\x07\x00\x00\x01", true, true},
		{"Windows binary", 4000, "MZ\x90\x00\x03\x00", false, true},
		{"unknown executable format", 4000, "\x00\x01\x02garbage", true, true},
		{"binary data, not executable", 4000, "\x89PNG\r\n\x1a\n\x00\x00", false, false},
		{"1 MB exactly", 1 << 20, "text", false, false},
		{"a byte over 1 MB", 1<<20 + 1, "text", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why := buildOutput(tc.size, []byte(tc.head), tc.executable)
			if (why != "") != tc.bad {
				t.Errorf("buildOutput(%d bytes, %q, executable=%v) = %q, want bad=%v", tc.size, tc.head, tc.executable, why, tc.bad)
			}
		})
	}
}
