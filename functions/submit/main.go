// Command submit is the Lambda function behind the LaunchRequested rule on
// the product's bus: it starts one launch execution per request id
// (pkg/submit). See README.md for its contract.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

func main() {
	ctx := context.Background()
	cfg, err := config.Load(os.Getenv, config.EnvStateMachineARN)
	if err != nil {
		slog.Error("submit: configuration", "err", err)
		os.Exit(1)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
	if err != nil {
		slog.Error("submit: AWS configuration", "err", err)
		os.Exit(1)
	}
	log := lambdacontext.NewLogger()
	h := submit.New(sfn.NewFromConfig(awsCfg), cfg.StateMachineARN, func(o *submit.Options) { o.Logger = log })
	lambda.StartHandlerFunc(h.Handle)
}
