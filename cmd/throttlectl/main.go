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
	// Ctrl-C or SIGTERM cancels the command's context: the demo then stops
	// every process it started before exiting.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{})
	stop()
	os.Exit(code)
}
