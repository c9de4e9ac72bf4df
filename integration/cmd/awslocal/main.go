// Command awslocal serves the local AWS (ECS and EC2 simulator, and the
// services the local stack adds) on one endpoint until SIGINT or SIGTERM:
//
//	go run ./integration/cmd/awslocal --addr 127.0.0.1:4566 [--time-scale 20] [--runtask-burst 100 …]
//
// It prints the export lines clients need (eval "$(… | grep ^export)").
// Run with -h for every bucket, lifecycle, co-tenant and fault flag.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/internal/nodetools"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
)

func main() {
	fs := flag.NewFlagSet("awslocal", flag.ExitOnError)
	flags := awslocal.BindFlags(fs)
	_ = fs.Parse(os.Args[1:])
	o, err := flags.Options(fs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "awslocal:", err)
		os.Exit(2)
	}
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !o.Services.Disabled {
		if _, err := nodetools.Ensure(ctx, testenv.RepoRoot(), os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "awslocal:", err)
			os.Exit(1)
		}
	}
	stack, err := awslocal.Start(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "awslocal:", err)
		os.Exit(1)
	}
	fmt.Print(stack.ExportLines())
	if svc := stack.LocalServices(); svc != nil {
		for name, arn := range svc.StateMachines {
			fmt.Printf("# state machine %s: %s\n", name, arn)
		}
	}
	fmt.Fprintf(os.Stderr, "awslocal: serving %s at %gx real time; Ctrl-C stops\n", stack.Endpoint, o.TimeScale)
	<-ctx.Done()
	if err := stack.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "awslocal: close:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "awslocal: stopped")
}
