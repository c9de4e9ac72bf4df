// Command retry is the retry Lambda function: it decides how a failed chunk
// goes on (chunk mode), reacts to ECS events (event mode) and takes back the
// relaunches that waited on the relaunch queue (SQS batches).
// The handler is built by pkg/lambdafn (pkg/launch/wire), like throttlectl
// invoke and the local Lambda endpoint build it. See README.md for its
// JSON contract.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
)

const name = "retry"

func main() {
	ctx := context.Background()
	log := lambdacontext.NewLogger()
	cfg, err := config.Load(os.Getenv, config.EnvTable, config.EnvEventBus, config.EnvDLQURL, config.EnvRelaunchQueueURL)
	if err != nil {
		log.Error(name+": configuration", "err", err)
		os.Exit(1)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
	if err != nil {
		log.Error(name+": AWS configuration", "err", err)
		os.Exit(1)
	}
	h, err := lambdafn.Build(ctx, name, lambdafn.Deps{Config: cfg, AWS: awsCfg, Clock: clock.Real{}, Logger: log})
	if err != nil {
		log.Error(name+": build", "err", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
