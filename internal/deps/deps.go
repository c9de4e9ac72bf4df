//go:build tools

// Package deps pins modules that parts of the tree under construction will
// import, so that go mod tidy keeps them and every part builds against one
// resolved set. Remove an import here once real code imports the module.
package deps

import (
	_ "github.com/aws/aws-cdk-go/awscdk/v2"
	_ "github.com/aws/aws-lambda-go/lambda"
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	_ "github.com/aws/aws-sdk-go-v2/service/ec2"
	_ "github.com/aws/aws-sdk-go-v2/service/ecs"
	_ "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	_ "github.com/aws/aws-sdk-go-v2/service/lambda"
	_ "github.com/aws/aws-sdk-go-v2/service/sfn"
	_ "github.com/aws/aws-sdk-go-v2/service/sqs"
	_ "github.com/aws/constructs-go/constructs/v10"
	_ "github.com/aws/jsii-runtime-go"
	_ "github.com/aws/smithy-go"
	_ "github.com/cdklabs/cdk-nag-go/cdknag/v2"
	_ "github.com/vbauerster/mpb/v8"
	_ "golang.org/x/time/rate"
	_ "gonum.org/v1/plot"
	_ "quamina.net/go/quamina"
)
