// Package servicestest gives a test a fresh composition of the local
// services (Lambda, Step Functions, EventBridge, SQS, DynamoDB) on its own
// edge, on a free port of 127.0.0.1, torn down when the test ends: the Node
// runner and dynalite are killed with their process groups.
package servicestest

import (
	"context"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/services"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// Stack is a running composition for one test.
type Stack struct {
	*services.Services
	Endpoint string
	Edge     *awslocal.Edge
	Clock    *clock.Scaled
	AWS      aws.Config
}

// DefaultTimeScale is the k tests run at unless they set one.
const DefaultTimeScale = 100

// New starts the services with o (Endpoint and Clock are filled in: a
// clock at DefaultTimeScale unless o.Clock is set) and stops them when the
// test ends. The test is skipped when the Node tools are missing (run make
// deps).
func New(t testing.TB, o services.Options) *Stack {
	t.Helper()
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("local services need the Node tools: %v", err)
	}
	if o.RunnerStderr == nil && testing.Verbose() {
		o.RunnerStderr = os.Stderr
	}
	st, stop, err := Start(o)
	if err != nil {
		t.Fatalf("start local services: %v", err)
	}
	t.Cleanup(stop)
	return st
}

// Start is New for a TestMain that shares one composition between the
// tests of a package: stop ends it.
func Start(o services.Options) (*Stack, func(), error) {
	edge := awslocal.NewEdge()
	srv := httptest.NewServer(edge)
	if o.Clock == nil {
		o.Clock = clock.NewScaled(time.Now(), DefaultTimeScale)
	}
	o.Endpoint = srv.URL
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := services.Start(ctx, edge, o)
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	stop := func() {
		s.Close()
		srv.Close()
	}
	return &Stack{
		Services: s, Endpoint: srv.URL, Edge: edge, Clock: o.Clock,
		AWS: aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
			Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")},
	}, stop, nil
}

// SFNClient returns a Step Functions client for the stack.
func (s *Stack) SFNClient() *sfn.Client { return sfn.NewFromConfig(s.AWS) }

// EventBridgeClient returns an EventBridge client for the stack.
func (s *Stack) EventBridgeClient() *eventbridge.Client { return eventbridge.NewFromConfig(s.AWS) }

// SQSClient returns an SQS client for the stack.
func (s *Stack) SQSClient() *sqs.Client { return sqs.NewFromConfig(s.AWS) }

// DynamoDBClient returns a DynamoDB client for the stack (through the edge).
func (s *Stack) DynamoDBClient() *dynamodb.Client { return dynamodb.NewFromConfig(s.AWS) }

// LambdaClient returns a Lambda client for the stack.
func (s *Stack) LambdaClient() *awslambda.Client { return awslambda.NewFromConfig(s.AWS) }
