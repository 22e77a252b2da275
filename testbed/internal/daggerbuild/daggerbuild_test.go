package daggerbuild

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

// The distconsts package must parse and declare every constant the
// engine code uses at Version.
func TestDistconstsSource(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "consts.go", DistconstsSource(), 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for _, id := range vs.Names {
				declared[id.Name] = true
			}
		}
		return true
	})
	for _, n := range []string{
		"EngineContainerName", "DefaultEngineSockAddr", "RuncPath", "DaggerInitPath",
		"EngineDefaultStateDir", "EngineContainerBuiltinContentDir", "GoSDKManifestDigestEnvName",
		"PythonSDKManifestDigestEnvName", "TypescriptSDKManifestDigestEnvName", "AlpineVersion",
		"AlpineImage", "GolangVersion", "GolangImage", "BusyboxVersion", "BusyboxImage",
		"OCIVersionAnnotation", "EngineCustomCACertsDir",
	} {
		if !declared[n] {
			t.Errorf("distconsts lacks %s", n)
		}
	}
	if f.Name.Name != "distconsts" {
		t.Errorf("package %s", f.Name.Name)
	}
	mf, err := modfile.ParseLax("go.mod", []byte(DistconstsGoMod), nil)
	if err != nil || mf.Module.Mod.Path != Module+"/engine/distconsts" {
		t.Errorf("go.mod %q: %v", DistconstsGoMod, err)
	}
}

// The SDK version in ci/go.mod fixes the engine version the bed builds.
func TestVersionMatchesSDK(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "ci", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mf.Require {
		if r.Mod.Path == SDKModule {
			if r.Mod.Version != Version {
				t.Errorf("ci/go.mod requires %s %s, the bed builds the engine %s", SDKModule, r.Mod.Version, Version)
			}
			return
		}
	}
	t.Errorf("ci/go.mod does not require %s", SDKModule)
}

func TestSpec(t *testing.T) {
	sp := Spec()
	if err := sp.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"engine.Version=" + Version, "engine.Tag=" + Version} {
		if !strings.Contains(sp.LDFlags, want) {
			t.Errorf("ldflags %q lack %q", sp.LDFlags, want)
		}
	}
	if !sp.NoSumDB || sp.Sum != ModuleSum {
		t.Error("the engine module must skip the checksum DB and pin its hash instead")
	}
	if len(sp.Packages) != len(Binaries) {
		t.Errorf("packages %v vs binaries %v", sp.Packages, Binaries)
	}
}
