package codecheck

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ExceptionsFile is where the exceptions live, relative to the repository
// root; messages name it so.
const ExceptionsFile = "internal/codecheck/exceptions.txt"

// Exception is one entry of the exceptions file: a function allowed over the
// limits, and why.
type Exception struct {
	Line   int    // line in the exceptions file
	File   string // slash-separated, relative to the repository root
	Name   string // as FuncName names it
	Reason string
}

// Key is the Func.Key of the function the entry names.
func (e Exception) Key() string { return e.File + " " + e.Name }

// ReadExceptions parses the exceptions file at path; see ParseExceptions.
func ReadExceptions(path string) ([]Exception, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseExceptions(ExceptionsFile, f)
}

// ParseExceptions reads entries "path/to/file.go Name # reason", one a line.
// Blank lines and lines starting with # are comments. An entry without a
// reason, with other than two fields before the #, or named twice is an
// error; every error names name:line, and all of them are returned, joined.
func ParseExceptions(name string, r io.Reader) ([]Exception, error) {
	var (
		out  []Exception
		errs []error
		seen = map[string]int{}
	)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseEntry(line)
		if err == nil && seen[e.Key()] != 0 {
			err = fmt.Errorf("%s is listed already on line %d", e.Key(), seen[e.Key()])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, n, err))
			continue
		}
		e.Line = n
		seen[e.Key()] = n
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return out, errors.Join(errs...)
}

func parseEntry(line string) (Exception, error) {
	entry, reason, found := strings.Cut(line, "#")
	reason = strings.TrimSpace(reason)
	if !found || reason == "" {
		return Exception{}, fmt.Errorf("%q has no reason: write \"path/to/file.go Name # why it may stay this long\"", line)
	}
	fields := strings.Fields(entry)
	if len(fields) != 2 || !strings.HasSuffix(fields[0], ".go") {
		return Exception{}, fmt.Errorf("%q is not \"path/to/file.go Name # reason\"", line)
	}
	return Exception{File: fields[0], Name: fields[1], Reason: reason}, nil
}
