// Package codecheck pins the size of the repository's functions. Its test,
// go test ./internal/codecheck/ (part of make test and make lint), walks
// every .go file from the repository root (the nearest go.mod above the
// working directory), leaving out *_test.go files, generated files (a
// "Code generated ... DO NOT EDIT." line) and the directories node_modules,
// build, cdk.out, testdata and those starting with "." or "_".
//
// For every function and method (every FuncDecl; a func literal counts
// towards the function that holds it) it measures:
//
//   - length: lines from the func line to the closing brace, inclusive (the
//     doc comment is not counted); at most 60;
//   - cyclomatic complexity, as gocyclo counts it: 1, plus one for each if,
//     for, range, case clause other than default, select comm clause other
//     than default, && and ||; at most 15.
//
// A function over either limit fails the test, naming file:line, the
// function, both measures and the limits. Split it, or list it in
// exceptions.txt, one entry a line:
//
//	path/to/file.go FuncName # reason
//	path/to/file.go Type.Method # reason
//	path/to/file.go (*Type).Method # reason
//
// The path is relative to the repository root, with slashes; receiver type
// parameters are left out ((*Set).Add, not (*Set[T]).Add). The reason is
// required: why the function may stay this long (a table of cases that
// splitting would hide), or "to split: ..." saying what to split and, where
// an issue tracks it, which. Two functions of one name in one file (init)
// share an entry. Lines starting with # are comments. The test also fails on an entry
// without a reason, an entry listed twice, and a stale entry: one naming a
// function that no longer exists or that is back within the limits. Delete
// the entry in the change that splits or moves the function.
//
// TestDocLinks, in the same run, checks the repository's markdown files:
// every relative link ([text](path), ![alt](path), [name]: path) must name
// a file or directory that exists inside the repository.
package codecheck
