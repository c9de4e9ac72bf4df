package codecheck

import (
	"strings"
	"testing"
)

func TestParseExceptions(t *testing.T) {
	src := `# a comment

pkg/a/a.go Big # a table
  pkg/b/b.go (*T).Handle   #   to split
pkg/b/b.go T.M # reason with # inside
`
	got, err := ParseExceptions("exceptions.txt", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Exception{
		{Line: 3, File: "pkg/a/a.go", Name: "Big", Reason: "a table"},
		{Line: 4, File: "pkg/b/b.go", Name: "(*T).Handle", Reason: "to split"},
		{Line: 5, File: "pkg/b/b.go", Name: "T.M", Reason: "reason with # inside"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseExceptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // in the error
	}{
		{"missing reason", "pkg/a/a.go Big\n", "exceptions.txt:1: \"pkg/a/a.go Big\" has no reason"},
		{"empty reason", "pkg/a/a.go Big #   \n", "exceptions.txt:1: \"pkg/a/a.go Big #\" has no reason"},
		{"no name", "\npkg/a/a.go # why\n", "exceptions.txt:2: \"pkg/a/a.go # why\" is not"},
		{"extra field", "pkg/a/a.go Big Bigger # why\n", "exceptions.txt:1: "},
		{"not a go file", "pkg/a/a.txt Big # why\n", "exceptions.txt:1: "},
		{"listed twice", "pkg/a/a.go Big # why\npkg/a/a.go Big # again\n", "exceptions.txt:2: pkg/a/a.go Big is listed already on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseExceptions("exceptions.txt", strings.NewReader(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseExceptionsReportsEveryBadLine(t *testing.T) {
	_, err := ParseExceptions("x.txt", strings.NewReader("a.go F\nb.go G # ok\nc.go H\n"))
	if err == nil || !strings.Contains(err.Error(), "x.txt:1:") || !strings.Contains(err.Error(), "x.txt:3:") {
		t.Fatalf("got %v, want errors for lines 1 and 3", err)
	}
}
