package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// RepoRoot returns the repository root (the folder holding go.mod), found
// from this file's compiled-in path. It is the one place the test harness
// (testenv, integration/) locates the source tree; shipped code (cmd/,
// functions/, pkg/) never does: it is given paths, or embeds its data.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// NodeBin returns the path of a binary installed by npm ci under
// node_modules/.bin, or an error saying to run make deps.
func NodeBin(name string) (string, error) {
	p := filepath.Join(RepoRoot(), "node_modules", ".bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not installed: run `make deps` (npm ci) first: %w", name, err)
	}
	return p, nil
}
