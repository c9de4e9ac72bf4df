package testenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// EnsureNodeTools runs `npm ci` in the repository when the Node tools are
// missing (a fresh clone), so `go run ./integration/cmd/awslocal` works
// without `make deps`. It does nothing when node_modules/.bin/node exists.
// npm's output goes to log (nil discards it).
func EnsureNodeTools(ctx context.Context, log io.Writer) error {
	if _, err := NodeBin("node"); err == nil {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("node tools missing and npm not found: install Node.js and npm, then run make deps: %w", err)
	}
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = RepoRoot()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm ci in %s: %w", RepoRoot(), err)
	}
	// Mark the install as make deps does, so make does not run it again.
	f, err := os.Create(filepath.Join(RepoRoot(), "node_modules", ".installed"))
	if err == nil {
		_ = f.Close()
	}
	_, err = NodeBin("node")
	return err
}
