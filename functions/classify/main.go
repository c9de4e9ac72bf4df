// Command classify is the Lambda function that answers "what kind of
// failure is this?" for the launch state machine: any failure shape in,
// a Classification out (pkg/failure via pkg/lambdafn). See README.md.
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

const name = "classify"

func main() {
	ctx := context.Background()
	log := lambdacontext.NewLogger()
	cfg, err := config.Load(os.Getenv)
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
