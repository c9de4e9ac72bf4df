package codecheck

import (
	"slices"
	"testing"
)

func TestCheck(t *testing.T) {
	lim := Limits{Lines: 10, Complexity: 3}
	funcs := []Func{
		{File: "a.go", Line: 1, Name: "ok", Lines: 10, Complexity: 3},
		{File: "a.go", Line: 20, Name: "long", Lines: 11, Complexity: 1},
		{File: "a.go", Line: 40, Name: "(*T).Twisty", Lines: 5, Complexity: 4},
		{File: "b.go", Line: 3, Name: "listed", Lines: 50, Complexity: 9},
		{File: "b.go", Line: 60, Name: "shrunk", Lines: 4, Complexity: 2},
		{File: "c.go", Line: 1, Name: "init", Lines: 2, Complexity: 1},
		{File: "c.go", Line: 5, Name: "init", Lines: 20, Complexity: 1},
	}
	excs := []Exception{
		{Line: 1, File: "b.go", Name: "listed", Reason: "a table"},
		{Line: 2, File: "b.go", Name: "shrunk", Reason: "was long"},
		{Line: 3, File: "b.go", Name: "gone", Reason: "was long"},
		{Line: 4, File: "c.go", Name: "init", Reason: "one of two is long"},
	}
	want := []string{
		"a.go:20 long: 11 lines (limit 10), complexity 1 (limit 3): split it, or list it in internal/codecheck/exceptions.txt with a reason",
		"a.go:40 (*T).Twisty: 5 lines (limit 10), complexity 4 (limit 3): split it, or list it in internal/codecheck/exceptions.txt with a reason",
		"internal/codecheck/exceptions.txt:2: stale exception: b.go:60 shrunk is within the limits now (4 lines (limit 10), complexity 2 (limit 3)); remove the entry",
		"internal/codecheck/exceptions.txt:3: stale exception: there is no gone in b.go; remove the entry",
	}
	got := Check(funcs, excs, lim)
	if !slices.Equal(got, want) {
		t.Errorf("Check:\ngot  %q\nwant %q", got, want)
	}
}
