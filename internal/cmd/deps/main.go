// Command deps installs the repository's Node tools as every command that
// needs them does (internal/nodetools): npm ci when package.json or
// package-lock.json changed since the last install, node_modules/go.mod,
// the stamp. `make deps` runs it from the repository root:
//
//	go run ./internal/cmd/deps [--dir .]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/throttle-handler/throttle-handler/internal/nodetools"
)

func main() {
	dir := flag.String("dir", ".", "the repository root (holding package-lock.json)")
	flag.Parse()
	root, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deps:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	_, err = nodetools.Ensure(ctx, root, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "deps:", err)
		os.Exit(1)
	}
}
