// Command throttlectl is the product's CLI, shaped like the aws CLI:
// global flags (--region, --profile, --endpoint-url, --output), then a
// command. The commands live in internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/throttle-handler/throttle-handler/cmd/throttlectl/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Run(ctx, os.Args[1:], cli.Env{})
	stop()
	os.Exit(code)
}
