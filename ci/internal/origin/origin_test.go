package origin

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// write creates files (path: content) under dir.
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, data := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const gantryGoMod = "module " + ModulePath + "\n\ngo 1.26.0\n"

// proxy serves ModulePath@version from a file:// GOPROXY and returns the
// module's h1 sum.
func proxy(t *testing.T, version string) string {
	t.Helper()
	src := t.TempDir()
	write(t, src, map[string]string{"go.mod": gantryGoMod, "gantry/gantry.go": "package gantry\n"})
	root := t.TempDir()
	at := filepath.Join(root, ModulePath, "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(at, version+".zip")
	f, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := modzip.CreateFromDir(f, module.Version{Path: ModulePath, Version: version}, src); err != nil {
		t.Fatal(err)
	}
	f.Close()
	write(t, at, map[string]string{
		version + ".mod":  gantryGoMod,
		version + ".info": `{"Version":"` + version + `"}`,
		"list":            version + "\n",
	})
	sum, err := dirhash.HashZip(zipPath, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOPROXY", "file://"+filepath.ToSlash(root))
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOFLAGS", "-modcacherw") // so that the test's cache can be removed
	t.Setenv("GOMODCACHE", t.TempDir())
	return sum
}

func TestFind(t *testing.T) {
	t.Setenv("GOWORK", "")
	t.Setenv("GOFLAGS", "")
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) *debug.BuildInfo
		wantDir string // relative to dir; empty: want an error
		wantVer string
		wantErr string
	}{
		{
			name: "this repository: the main module",
			setup: func(t *testing.T, dir string) *debug.BuildInfo {
				write(t, dir, map[string]string{"go.mod": gantryGoMod})
				return &debug.BuildInfo{Main: debug.Module{Path: ModulePath, Version: "(devel)"}}
			},
			wantDir: ".", wantVer: "(devel)",
		},
		{
			name: "this repository: the main module with a version from git",
			setup: func(t *testing.T, dir string) *debug.BuildInfo {
				write(t, dir, map[string]string{"go.mod": gantryGoMod})
				return &debug.BuildInfo{Main: debug.Module{Path: ModulePath, Version: "v0.0.0-20261204212907-bac00c5a3913+dirty"}}
			},
			wantDir: ".", wantVer: "(devel)",
		},
		{
			name: "another repository with gantry in its workspace",
			setup: func(t *testing.T, dir string) *debug.BuildInfo {
				write(t, dir, map[string]string{
					"go.work":              "go 1.26.0\n\nuse (\n\t./ci\n\t./vendor-gantry\n)\n",
					"ci/go.mod":            "module example.com/orders/ci\n\ngo 1.26.0\n\nrequire " + ModulePath + " v0.0.0\n",
					"vendor-gantry/go.mod": gantryGoMod,
				})
				return &debug.BuildInfo{Main: debug.Module{Path: "example.com/orders/ci", Version: "(devel)"},
					Deps: []*debug.Module{{Path: ModulePath, Version: "(devel)"}}}
			},
			wantDir: "vendor-gantry", wantVer: "(devel)",
		},
		{
			name: "a replace by absolute path",
			setup: func(t *testing.T, dir string) *debug.BuildInfo {
				return &debug.BuildInfo{Main: debug.Module{Path: "example.com/orders/ci"},
					Deps: []*debug.Module{{Path: ModulePath, Version: "v1.0.0", Replace: &debug.Module{Path: filepath.Join(dir, "g")}}}}
			},
			wantDir: "g", wantVer: "(devel)",
		},
		{
			name: "a released version: from the module cache",
			setup: func(t *testing.T, dir string) *debug.BuildInfo {
				sum := proxy(t, "v1.2.3")
				return &debug.BuildInfo{Main: debug.Module{Path: "example.com/orders/ci"},
					Deps: []*debug.Module{{Path: ModulePath, Version: "v1.2.3", Sum: sum}}}
			},
			wantVer: "v1.2.3",
		},
		{
			name: "a released version whose cached copy is not what was built",
			setup: func(t *testing.T, dir string) *debug.BuildInfo {
				proxy(t, "v1.2.3")
				return &debug.BuildInfo{Main: debug.Module{Path: "example.com/orders/ci"},
					Deps: []*debug.Module{{Path: ModulePath, Version: "v1.2.3", Sum: "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}}
			},
			wantErr: "hashes to h1:",
		},
		{
			name: "a version the proxy does not have",
			setup: func(t *testing.T, dir string) *debug.BuildInfo {
				proxy(t, "v1.2.3")
				return &debug.BuildInfo{Main: debug.Module{Path: "example.com/orders/ci"},
					Deps: []*debug.Module{{Path: ModulePath, Version: "v9.9.9", Sum: "h1:x"}}}
			},
			wantErr: "downloading " + ModulePath + "@v9.9.9",
		},
		{
			name: "a directory where the go command finds no gantry",
			setup: func(t *testing.T, dir string) *debug.BuildInfo {
				write(t, dir, map[string]string{"go.mod": "module example.com/other\n\ngo 1.26.0\n"})
				return &debug.BuildInfo{Main: debug.Module{Path: "example.com/orders/ci"},
					Deps: []*debug.Module{{Path: ModulePath, Version: "(devel)"}}}
			},
			wantErr: "run it from the directory you built it in",
		},
		{
			name: "a program without gantry",
			setup: func(t *testing.T, dir string) *debug.BuildInfo {
				return &debug.BuildInfo{Main: debug.Module{Path: "example.com/tool"}}
			},
			wantErr: "was not built with " + ModulePath,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			bi := tt.setup(t, dir)
			got, err := find(context.Background(), bi, dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("find: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != tt.wantVer {
				t.Errorf("version %q, want %q", got.Version, tt.wantVer)
			}
			if tt.wantDir != "" {
				want, _ := filepath.EvalSymlinks(filepath.Join(dir, tt.wantDir))
				if have, _ := filepath.EvalSymlinks(got.Dir); have != want {
					t.Errorf("dir %s, want %s", got.Dir, want)
				}
				return
			}
			// From the module cache: the module's own files.
			if data, err := os.ReadFile(filepath.Join(got.Dir, "gantry", "gantry.go")); err != nil || string(data) != "package gantry\n" {
				t.Errorf("dir %s does not hold the module's sources: %v", got.Dir, err)
			}
		})
	}
}
