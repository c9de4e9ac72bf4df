package codecheck

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// skipDirs are the directories ScanRepo does not enter, wherever they are.
// Directories whose names start with "." or "_" are skipped too, as the go
// command does.
var skipDirs = map[string]bool{
	"node_modules": true,
	"build":        true,
	"cdk.out":      true,
	"testdata":     true,
}

// RepoRoot returns the nearest directory at or above dir that holds a go.mod.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("codecheck: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// ScanRepo measures every function of every .go file under root, except
// test files, generated files (ast.IsGenerated) and the skipped directories.
// Funcs come in file order, then source order.
func ScanRepo(root string) ([]Func, error) {
	fset := token.NewFileSet()
	var out []Func
	err := walkFiles(root, isSource, func(path string) error {
		funcs, err := scanFile(fset, root, path)
		out = append(out, funcs...)
		return err
	})
	return out, err
}

// walkFiles calls visit for every regular file under root whose name keep
// accepts, outside the skipped directories, in lexical order.
func walkFiles(root string, keep func(name string) bool, visit func(path string) error) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !keep(d.Name()) {
			return nil
		}
		return visit(path)
	})
}

func skipDir(name string) bool {
	return skipDirs[name] || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

func isSource(name string) bool {
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
}

// scanFile measures the functions of the file at path, or none if it is
// generated.
func scanFile(fset *token.FileSet, root, path string) ([]Func, error) {
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("codecheck: %w", err)
	}
	if ast.IsGenerated(f) {
		return nil, nil
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return nil, err
	}
	return FileFuncs(fset, filepath.ToSlash(rel), f), nil
}
