package daggerbuild

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/gantry-ci/gantry/internal/testenv"
)

const distconstsPath = Module + "/engine/distconsts"

// engineSource is the directory of Module@Version in the module cache. The
// test never downloads it: `up` does (its first build fetches it), so a
// machine that has built the bed has it, and CI brings the bed up before
// the tests.
func engineSource(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", Module+"@"+Version)
	cmd.Dir = t.TempDir() // outside any module or workspace
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off", "GONOSUMDB="+Module)
	out, err := cmd.Output()
	var d struct{ Dir, Sum, Error string }
	if jerr := json.Unmarshal(out, &d); jerr != nil || d.Error != "" || err != nil {
		why := d.Error
		if why == "" {
			why = fmt.Sprint(err, jerr)
		}
		testenv.Unavailable(t, fmt.Sprintf("%s@%s is not in the module cache (%s); `go run ./testbed up` downloads it",
			Module, Version, why))
	}
	if d.Sum != ModuleSum {
		t.Fatalf("%s@%s in the module cache has hash %s, the bed builds %s", Module, Version, d.Sum, ModuleSum)
	}
	return d.Dir
}

// distconstsUses returns every name the Go files in dir refer to as
// distconsts.X, with where each is first used. Test files are left out:
// the bed builds only commands.
func distconstsUses(t *testing.T, dir string) map[string]string {
	t.Helper()
	uses := map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !strings.Contains(string(src), strconv.Quote(distconstsPath)) {
			return nil
		}
		f, err := parser.ParseFile(fset, p, src, 0)
		if err != nil {
			return err
		}
		local := ""
		for _, imp := range f.Imports {
			if imp.Path.Value != strconv.Quote(distconstsPath) {
				continue
			}
			local = "distconsts"
			if imp.Name != nil {
				local = imp.Name.Name
			}
		}
		switch local {
		case "", "_":
			return nil
		case ".":
			return fmt.Errorf("%s dot-imports distconsts: its uses can't be told apart", p)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == local {
					if _, seen := uses[sel.Sel.Name]; !seen {
						pos := fset.Position(sel.Pos())
						rel, _ := filepath.Rel(dir, pos.Filename)
						uses[sel.Sel.Name] = fmt.Sprintf("%s:%d", rel, pos.Line)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return uses
}

// The module zip lacks engine/distconsts, so the bed writes it. It must
// declare every constant the engine source uses, or the build fails after
// minutes of compiling; the names come from that source, not from a list.
func TestDistconstsCoversEngineSource(t *testing.T) {
	dir := engineSource(t)
	uses := distconstsUses(t, dir)
	if len(uses) == 0 {
		t.Fatalf("no Go file in %s uses %s: has the engine stopped needing it?", dir, distconstsPath)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "consts.go", DistconstsSource(), 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, d := range f.Decls {
		if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.CONST {
			for _, spec := range gd.Specs {
				for _, id := range spec.(*ast.ValueSpec).Names {
					declared[id.Name] = true
				}
			}
		}
	}
	for name, pos := range uses {
		if !declared[name] {
			t.Errorf("%s uses distconsts.%s, which DistconstsSource does not declare", pos, name)
		}
	}
}

// prepare fills in what the engine's go.mod replaces with local
// directories: the SDK at sdkDir and distconsts at distconstsDir, under the
// module path DistconstsGoMod declares.
func TestEngineGoModReplaces(t *testing.T) {
	dir := engineSource(t)
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := modfile.ParseLax("go.mod", []byte(DistconstsGoMod), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{SDKModule: sdkDir, dc.Module.Mod.Path: distconstsDir}
	got := map[string]string{} // the directory replacements
	for _, r := range mf.Replace {
		if modfile.IsDirectoryPath(r.New.Path) {
			got[r.Old.Path] = path.Clean(r.New.Path)
		}
	}
	for old, at := range want {
		if got[old] != at {
			t.Errorf("the engine's go.mod replaces %s with %q; prepare writes it at %s", old, got[old], at)
		}
	}
	for old, at := range got {
		if _, ok := want[old]; !ok {
			t.Errorf("the engine's go.mod replaces %s with %s, which the module zip lacks and prepare does not write", old, at)
		}
	}
}

// The written package must compile on its own: a constant defined in
// terms of one that is missing, or a typo, only shows up in the engine
// build otherwise.
func TestDistconstsCompiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"go.mod": DistconstsGoMod, "consts.go": DistconstsSource()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "vet", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go vet of the written distconsts package: %v\n%s", err, out)
	}
}

// The SDK version in ci/go.mod fixes the engine version the bed builds;
// the bed's own module (the proof tests) speaks to it with the same SDK.
func TestVersionMatchesSDK(t *testing.T) {
	for _, p := range []string{
		filepath.Join("..", "..", "..", "ci", "go.mod"),
		filepath.Join("..", "..", "go.mod"),
	} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		mf, err := modfile.Parse(p, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range mf.Require {
			if r.Mod.Path == SDKModule {
				found = true
				if r.Mod.Version != Version {
					t.Errorf("%s requires %s %s, the bed builds the engine %s", p, SDKModule, r.Mod.Version, Version)
				}
			}
		}
		if !found {
			t.Errorf("%s does not require %s", p, SDKModule)
		}
	}
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
