// Command runtask is the runtask Lambda function: it makes one chunk's RunTask or RunInstances call under the fleet-wide limiter, or answers deferred.
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

const name = "runtask"

func main() {
	ctx := context.Background()
	log := lambdacontext.NewLogger()
	cfg, err := config.Load(os.Getenv, config.EnvTable)
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
