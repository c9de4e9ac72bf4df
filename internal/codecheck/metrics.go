package codecheck

import (
	"go/ast"
	"go/token"
)

// Limits are the most lines and the highest complexity a function may have
// without an entry in exceptions.txt.
type Limits struct {
	Lines      int
	Complexity int
}

// DefaultLimits are the limits the repository is held to.
var DefaultLimits = Limits{Lines: 60, Complexity: 15}

// Func is the measure of one function or method.
type Func struct {
	File       string // slash-separated, relative to the repository root
	Line       int    // the line of the func keyword
	Name       string // FuncName, Type.Method or (*Type).Method
	Lines      int    // from the func line to the closing brace, inclusive
	Complexity int    // cyclomatic complexity, as gocyclo counts it
}

// Key is how exceptions.txt names the function: "path/to/file.go Name".
func (f Func) Key() string { return f.File + " " + f.Name }

// Exceeds reports whether f is over either limit.
func (f Func) Exceeds(l Limits) bool {
	return f.Lines > l.Lines || f.Complexity > l.Complexity
}

// FileFuncs measures every FuncDecl of file, in source order; file is the
// name the results carry.
func FileFuncs(fset *token.FileSet, file string, f *ast.File) []Func {
	var out []Func
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		out = append(out, Func{
			File:       file,
			Line:       fset.Position(fd.Pos()).Line,
			Name:       FuncName(fd),
			Lines:      Lines(fset, fd),
			Complexity: Complexity(fd),
		})
	}
	return out
}

// Lines counts the lines of n from its first to its last, inclusive. For a
// FuncDecl that is the func line to the closing brace (the doc comment is
// not counted).
func Lines(fset *token.FileSet, n ast.Node) int {
	return fset.Position(n.End()).Line - fset.Position(n.Pos()).Line + 1
}

// Complexity is the cyclomatic complexity of n as gocyclo counts it: 1, plus
// one for each if, for, range, non-default case clause, non-default comm
// clause, && and ||. Function literals inside n count towards n.
func Complexity(n ast.Node) int {
	c := 1
	ast.Inspect(n, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			c++
		case *ast.CaseClause:
			if n.List != nil {
				c++
			}
		case *ast.CommClause:
			if n.Comm != nil {
				c++
			}
		case *ast.BinaryExpr:
			if n.Op == token.LAND || n.Op == token.LOR {
				c++
			}
		}
		return true
	})
	return c
}

// FuncName names fd as exceptions.txt does: Name for a function, Type.Name
// for a method on a value receiver, (*Type).Name on a pointer receiver.
// Type parameters of the receiver are left out: (*Set).Add, not (*Set[T]).Add.
func FuncName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := ast.Unparen(fd.Recv.List[0].Type)
	star, pointer := t.(*ast.StarExpr)
	if pointer {
		t = ast.Unparen(star.X)
	}
	switch x := t.(type) {
	case *ast.IndexExpr:
		t = x.X
	case *ast.IndexListExpr:
		t = x.X
	}
	typ := "?"
	if id, ok := t.(*ast.Ident); ok {
		typ = id.Name
	}
	if pointer {
		return "(*" + typ + ")." + fd.Name.Name
	}
	return typ + "." + fd.Name.Name
}
