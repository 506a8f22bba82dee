package main

import (
	"bytes"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goBlocks are the README's ```go blocks, in order.
func goBlocks(t *testing.T) [][]byte {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]byte
	for _, m := range regexp.MustCompile("(?ms)^```go\n(.*?)^```").FindAllSubmatch(readme, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// Every ```go block of the README is either a complete file (it has a package clause) or a fragment that
// says so by starting with a comment. The complete files compile as shown: the blocks of one package
// together (a block that imports "testing" as a _test.go file), each package main alone, all of them in a
// module of their own that requires this one, as a user's would; their tests pass.
func TestREADMEGoBlocksCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the README's snippets with the go command")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := 0
	for i, b := range goBlocks(t) {
		f, err := parser.ParseFile(token.NewFileSet(), "", b, parser.ImportsOnly)
		if err != nil {
			if !bytes.HasPrefix(b, []byte("//")) {
				t.Errorf("README go block %d is neither a Go file (%v) nor a fragment starting with a comment:\n%s", i+1, err, b)
			}
			continue
		}
		pkg := f.Name.Name
		if pkg == "main" {
			pkg = fmt.Sprintf("main%d", i+1)
		}
		name := fmt.Sprintf("block%02d.go", i+1)
		for _, imp := range f.Imports {
			if imp.Path.Value == `"testing"` {
				name = fmt.Sprintf("block%02d_test.go", i+1)
			}
		}
		if err := os.MkdirAll(filepath.Join(dir, pkg), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, pkg, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		files++
	}
	if files == 0 {
		t.Fatal("no complete Go file in the README")
	}
	gomod := "module readme.example\n\ngo 1.26\n\nrequire github.com/pyrehq/pyre v0.0.0\n\nreplace github.com/pyrehq/pyre => " + root + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	// vet type-checks the test files too; -mod=mod completes go.mod from the module cache, offline.
	for _, args := range [][]string{{"vet", "-mod=mod", "./..."}, {"test", "-mod=mod", "-count=1", "./..."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "GOPROXY=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s of the README's Go files: %v\n%s", args[0], err, strings.ReplaceAll(string(out), dir+"/", ""))
		}
	}
}
