// Package nodetools installs the repository's Node tools (node_modules:
// the local Step Functions runner, dynalite, asl-validator, the aws-cdk
// CLI) from package-lock.json. It is the one install path: `make deps`
// runs it (internal/cmd/deps), and so does every command that needs the
// tools (integration/cmd/awslocal, integration/cmd/demo, integration/cmd/bench).
//
// It imports only the standard library, so `make deps` works on a fresh
// clone where nothing is installed yet.
package nodetools

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Files Ensure reads and writes, relative to the repository root.
const (
	// Dir is the install directory npm ci fills.
	Dir = "node_modules"
	// Stamp is touched after every install; an install is current while
	// it is newer than both package files.
	Stamp = Dir + "/.installed"
	// GoMod makes the go command treat node_modules as another module, so
	// that ./... skips the Go templates the aws-cdk package ships (go vet
	// ./... fails on them otherwise).
	GoMod = Dir + "/go.mod"
)

// goModText is GoMod's content.
const goModText = "module ignored\n"

// packageFiles are the inputs of an install: a change to either (a newer
// modification time than Stamp) means npm ci runs again.
var packageFiles = []string{"package.json", "package-lock.json"}

// npmArgs are npm's arguments: a clean install from the lock file.
var npmArgs = []string{"ci", "--no-audit", "--no-fund"}

// Ensure makes the Node tools of the repository at root current, as
// `make deps` always has: when node_modules or the stamp is missing, or
// package.json or package-lock.json is newer than the stamp, it runs
// `npm ci --no-audit --no-fund` in root (found on PATH), then writes
// node_modules/go.mod (`module ignored`) and touches the stamp. When the
// install is current it runs nothing and only writes a missing go.mod (an
// install made before go.mod was part of it). It reports whether npm ran.
//
// A node_modules that is a symbolic link belongs to another checkout
// (git worktrees sharing one install): npm ci would delete and refill it
// under that checkout, so Ensure leaves it alone and writes nothing there
// but a missing go.mod, saying so on log.
//
// The command line and npm's output go to log (nil discards them).
func Ensure(ctx context.Context, root string, log io.Writer) (installed bool, err error) {
	if log == nil {
		log = io.Discard
	}
	stale, why, err := needsInstall(root)
	if err != nil {
		return false, err
	}
	if stale {
		linked, err := isSymlink(filepath.Join(root, Dir))
		if err != nil {
			return false, err
		}
		if linked {
			fmt.Fprintf(log, "nodetools: %s is a link to another checkout's install (%s): not running npm ci here\n", Dir, why)
			stale = false
		}
	}
	if stale {
		if err := npmCI(ctx, root, log); err != nil {
			return false, err
		}
	}
	if err := writeGoMod(root); err != nil {
		return stale, err
	}
	if stale {
		if err := touch(filepath.Join(root, Stamp)); err != nil {
			return true, err
		}
	}
	return stale, nil
}

// needsInstall reports whether npm ci must run, and why.
func needsInstall(root string) (bool, string, error) {
	if _, err := os.Stat(filepath.Join(root, Dir)); errors.Is(err, fs.ErrNotExist) {
		return true, Dir + " is missing", nil
	}
	st, err := os.Stat(filepath.Join(root, Stamp))
	if errors.Is(err, fs.ErrNotExist) {
		return true, Stamp + " is missing", nil
	} else if err != nil {
		return false, "", fmt.Errorf("nodetools: %w", err)
	}
	for _, name := range packageFiles {
		pf, err := os.Stat(filepath.Join(root, name))
		if err != nil {
			return false, "", fmt.Errorf("nodetools: %s is the install's input: %w", name, err)
		}
		if pf.ModTime().After(st.ModTime()) {
			return true, name + " is newer than " + Stamp, nil
		}
	}
	return false, "", nil
}

func isSymlink(path string) (bool, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("nodetools: %w", err)
	}
	return st.Mode()&fs.ModeSymlink != 0, nil
}

// npmCI runs npm ci in root, echoing the command line first as make does.
func npmCI(ctx context.Context, root string, log io.Writer) error {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("nodetools: the Node tools need installing and npm is not on PATH: install Node.js (20 or later) and npm: %w", err)
	}
	fmt.Fprintf(log, "npm %s (in %s)\n", strings.Join(npmArgs, " "), root)
	cmd := exec.CommandContext(ctx, npm, npmArgs...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nodetools: npm %s in %s: %w", strings.Join(npmArgs, " "), root, err)
	}
	return nil
}

// writeGoMod writes GoMod unless it already holds goModText.
func writeGoMod(root string) error {
	path := filepath.Join(root, GoMod)
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, []byte(goModText)) {
		return nil
	}
	if err := os.WriteFile(path, []byte(goModText), 0o644); err != nil {
		return fmt.Errorf("nodetools: %w", err)
	}
	return nil
}

// touch creates path or sets its modification time to now.
func touch(path string) error {
	now := time.Now()
	if err := os.Chtimes(path, now, now); errors.Is(err, fs.ErrNotExist) {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("nodetools: %w", err)
		}
		return f.Close()
	} else if err != nil {
		return fmt.Errorf("nodetools: %w", err)
	}
	return nil
}
