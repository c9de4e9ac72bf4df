// Command throttlectl is the product's CLI, shaped like the aws CLI:
// global flags (--region, --profile, --endpoint-url, --output), then a
// command. The commands live in internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/throttle-handler/throttle-handler/cmd/throttlectl/internal/cli"
)

func main() {
	// Ctrl-C or SIGTERM cancels the command's context: status --watch
	// stops watching, a call in flight is abandoned.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{})
	stop()
	os.Exit(code)
}
