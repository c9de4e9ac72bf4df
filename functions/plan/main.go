// Command plan is the plan Lambda function: it validates a launch request, stores it with its plan in the table and returns the chunk indices.
// Its JSON contract is in README.md beside this file.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/launch/wire"
)

func main() {
	ctx := context.Background()
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		slog.Error("config", "err", err)
		os.Exit(1)
	}
	logger := slog.New(lambdacontext.NewLogHandler())
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
	if err != nil {
		logger.Error("aws config", "err", err)
		os.Exit(1)
	}
	h, err := wire.Plan(wire.Deps{Config: cfg, AWS: awsCfg, Clock: clock.Real{}, Logger: logger})
	if err != nil {
		logger.Error("plan", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
