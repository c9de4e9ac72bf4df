package lambdafn

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// Main is the whole main of the named function (functions/<name>/main.go):
// it parses the environment once (config.Load, with the variables the
// function requires), loads the AWS configuration for the region, builds
// the handler outside any invocation and serves it with lambda.Start. The
// logger is lambdacontext's (JSON, requestId, AWS_LAMBDA_LOG_LEVEL). A
// failure before serving is logged with key "err" and exits with status 1.
// Main does not return.
func Main(name string) {
	ctx := context.Background()
	log := lambdacontext.NewLogger()
	h, err := mainHandler(ctx, name, os.Getenv, log)
	if err != nil {
		log.Error(name+": not started", "err", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// mainHandler is Main up to lambda.Start, on getenv.
func mainHandler(ctx context.Context, name string, getenv func(string) string, log *slog.Logger) (lambda.Handler, error) {
	f, err := lookup(name)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(getenv, f.required...)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	d := Deps{Config: cfg, AWS: awsCfg, Clock: clock.Real{}, Logger: log}
	h, err := Build(ctx, name, d)
	if err != nil {
		return nil, err
	}
	return withScope(name, d, h, Build), nil
}
