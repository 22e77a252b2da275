package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Ratio
		wantErr  string
	}{
		{
			name: "two scenarios, in order",
			in: "scenario\tside\tseconds\tbreakdown\n" +
				"cold\tgantry\t300.0\tsetup-go 1.0\ncold\tpeer\t200.0\tbuild 150\n" +
				"rerun\tgantry\t30\t\nrerun\tpeer\t120\tx \"quoted\" y\n",
			want: []Ratio{{"cold", 300, 200}, {"rerun", 30, 120}},
		},
		{name: "empty", in: "", wantErr: "no results"},
		{name: "no header", in: "cold\tgantry\t1\t\n", wantErr: "no results"},
		{name: "one side", in: "scenario\tside\tseconds\tbreakdown\ncold\tgantry\t1\t\n", wantErr: "cold lacks a side"},
		{name: "bad seconds", in: "scenario\tside\tseconds\tbreakdown\ncold\tgantry\tfast\t\n", wantErr: `seconds "fast"`},
		{name: "bad side", in: "scenario\tside\tseconds\tbreakdown\ncold\tko\t1\t\n", wantErr: `unknown side "ko"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("ratio %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
	if r := (Ratio{"x", 300, 200}); r.Value() != 1.5 {
		t.Errorf("300 s / 200 s = %v, want 1.5", r.Value())
	}
}

func TestRunWritesAPNG(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "results.tsv")
	if err := os.WriteFile(in, []byte("scenario\tside\tseconds\tbreakdown\ncold\tgantry\t300\t\ncold\tpeer\t200\t\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "ratios.png")
	if err := run(in, out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 150 {
		t.Errorf("image is %v, too small to read", b)
	}
}
