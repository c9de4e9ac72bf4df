package codecheck

import "testing"

// TestRepoFunctionLimits holds every function of the repository to
// DefaultLimits, less the entries of exceptions.txt, and fails on a stale
// entry.
func TestRepoFunctionLimits(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	funcs, err := ScanRepo(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(funcs) == 0 {
		t.Fatalf("no functions found under %s", root)
	}
	excs, err := ReadExceptions("exceptions.txt")
	if err != nil {
		t.Error(err) // and judge the entries that did parse
	}
	for _, msg := range Check(funcs, excs, DefaultLimits) {
		t.Error(msg)
	}
}
