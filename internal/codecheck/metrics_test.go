package codecheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// parseFuncs parses src as the body of a file of package p and measures its
// functions as file x.go.
func parseFuncs(t *testing.T, src string) []Func {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", "package p\n\n"+src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	return FileFuncs(fset, "x.go", f)
}

// TestMeasure checks both measures of one function a case: complexity as
// gocyclo counts it, lines from the func line to the closing brace.
func TestMeasure(t *testing.T) {
	tests := []struct {
		name              string
		src               string
		lines, complexity int
	}{
		{"empty", `func f() {}`, 1, 1},
		{"straight line", `func f(a int) int { a++; return a * 2 }`, 1, 1},
		{"two ifs and an and", `func f(a, b bool) {
	if a && b {
	}
	if b {
	}
}`, 6, 4},
		{"else if counts, else does not", `func f(a, b bool) int {
	if a {
		return 1
	} else if b {
		return 2
	} else {
		return 3
	}
}`, 9, 3},
		{"or chain", `func f(a, b, c bool) bool { return a || b || c }`, 1, 3},
		{"for and range", `func f(xs []int) {
	for i := 0; i < 3; i++ {
	}
	for range xs {
	}
}`, 6, 3},
		{"switch: cases count, default does not", `func f(n int) {
	switch n {
	case 1, 2:
	case 3:
	default:
	}
}`, 7, 3},
		{"type switch", `func f(v any) {
	switch v.(type) {
	case int:
	case string:
	}
}`, 6, 3},
		{"select: comm clauses count, default does not", `func f(a, b chan int) {
	select {
	case <-a:
	case b <- 1:
	default:
	}
}`, 7, 3},
		{"func literal counts towards its function", `func f() {
	g := func(a bool) {
		if a {
		}
	}
	g(true)
}`, 7, 2},
		{"goto and labels do not count", `func f() {
L:
	goto L
}`, 4, 1},
		{"doc comment not counted", `// f does nothing.
// Really.
func f() {
}`, 2, 1},
		{"signature over lines", `func f(
	a int,
	b int,
) int {
	return a + b
}`, 6, 1},
		{"blank lines and comments inside count", `func f() {

	// nothing

}`, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := parseFuncs(t, tt.src)
			if len(fs) != 1 {
				t.Fatalf("got %d functions, want 1", len(fs))
			}
			if fs[0].Lines != tt.lines || fs[0].Complexity != tt.complexity {
				t.Errorf("%d lines, complexity %d; want %d lines, complexity %d",
					fs[0].Lines, fs[0].Complexity, tt.lines, tt.complexity)
			}
		})
	}
}

func TestFuncName(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{`func F() {}`, "F"},
		{`func (T) M() {}`, "T.M"},
		{`func (t T) M() {}`, "T.M"},
		{`func (t *T) M() {}`, "(*T).M"},
		{`func (s *Set[E]) Add(e E) {}`, "(*Set).Add"},
		{`func (p Pair[K, V]) Key() K { var k K; return k }`, "Pair.Key"},
		{`func (t (*T)) M() {}`, "(*T).M"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "x.go", "package p\n"+tt.src, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := FuncName(f.Decls[0].(*ast.FuncDecl)); got != tt.want {
				t.Errorf("FuncName(%s) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestFileFuncsPositions(t *testing.T) {
	fs := parseFuncs(t, `var x = 1

func a() {}

type T struct{}

func (T) b() {
}`)
	want := []Func{
		{File: "x.go", Line: 5, Name: "a", Lines: 1, Complexity: 1},
		{File: "x.go", Line: 9, Name: "T.b", Lines: 2, Complexity: 1},
	}
	if len(fs) != len(want) {
		t.Fatalf("got %+v, want %+v", fs, want)
	}
	for i := range want {
		if fs[i] != want[i] {
			t.Errorf("func %d: got %+v, want %+v", i, fs[i], want[i])
		}
	}
}
