package awslocal

import (
	"context"
	"io"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/throttle-handler/throttle-handler/integration/services"
	lambdasvc "github.com/throttle-handler/throttle-handler/integration/services/lambda"
	sfnsvc "github.com/throttle-handler/throttle-handler/integration/services/sfn"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
)

// ServicesOptions configure the services beyond ECS and EC2: Lambda (the
// product's handlers in-process), Step Functions (the Node runner),
// EventBridge, SQS and DynamoDB (dynalite), composed by
// integration/services. They start only on a scaled clock: with
// Options.Clock set (a Fake, for simulator tests) they do not start, since
// their timers need a clock that advances by itself.
type ServicesOptions struct {
	// Disabled starts only the ECS/EC2 simulator.
	Disabled bool
	// Functions builds a function's handler for the local Lambda endpoint.
	// Default: pkg/lambdafn.Build, so the endpoint runs exactly what Lambda
	// runs.
	Functions func(ctx context.Context, name string, d lambdafn.Deps) (awslambda.Handler, error)
	// Configure adjusts the product configuration the functions get and Env
	// reports (limits, defer threshold…).
	Configure func(*config.Config)
	// Lambda tweaks the Lambda service: concurrency limit, timeouts, faults.
	Lambda func(*lambdasvc.Options)
	// StateMachinesDir holds *.asl.json and rules/*.json. Default: the
	// repository's statemachines/.
	StateMachinesDir string
	// ProductBus, Queue and Table name the product's bus, dead-letter queue
	// and table. Defaults: throttle-handler, throttle-handler-dlq,
	// throttle-handler.
	ProductBus, Queue, Table string
	// EventDuplicates is the probability that EventBridge delivers an event
	// twice (it is at least once).
	EventDuplicates float64
	// NoDynamoDB skips dynalite; DynamoDBPath keeps its data on disk so a
	// restarted stack keeps it.
	NoDynamoDB   bool
	DynamoDBPath string
	// RunnerStderr receives the Step Functions runner's diagnostics.
	RunnerStderr io.Writer
	// SFN tweaks Step Functions (its AWS behaviours are on unless turned
	// off: Map Runs, history limit, Wait lateness).
	SFN func(*sfnsvc.Options)
	// Metrics receives the in-process functions' EMF lines (default
	// os.Stdout, as Lambda's log stream).
	Metrics io.Writer

	// Fidelity turns off emulated AWS behaviours of SQS, EventBridge and
	// DynamoDB (services.Fidelity); all are on by default.
	Fidelity services.Fidelity
}

// LocalServices returns the running Lambda, Step Functions, EventBridge,
// SQS and DynamoDB of the stack (their Go APIs: Events.Drain, SFN.Wait,
// Stats…), or nil when they were not started.
func (s *Stack) LocalServices() *services.Services { return s.services.Load() }

// startServices starts the other services on s.Edge and the stack's scaled
// clock, sends the simulator's events to EventBridge's default bus and adds
// the services' endpoints and the TH_* configuration to Env.
func (s *Stack) startServices(ctx context.Context, o Options) error {
	so := o.Services
	if so.Disabled || s.Scaled == nil {
		return nil
	}
	opts := services.Options{
		Endpoint: s.Endpoint, Clock: s.Scaled, Region: s.Region, Lambda: so.Lambda, Configure: so.Configure,
		StateMachinesDir: so.StateMachinesDir, ProductBus: so.ProductBus, Queue: so.Queue, Table: so.Table,
		EventDuplicates: so.EventDuplicates, NoDynamoDB: so.NoDynamoDB, DynamoDBPath: so.DynamoDBPath,
		RunnerStderr: so.RunnerStderr, Logger: s.logger, SFN: so.SFN,
	}
	opts.Fidelity = so.Fidelity
	// The product replays a token only while the simulator certainly keeps
	// it (a shorter token lifetime in a test shortens the product's too).
	window := s.Sim.Config().Tokens.CertainWindow()
	opts.Configure = func(c *config.Config) {
		c.TokenLifetime = min(c.TokenLifetime, window)
		if so.Configure != nil {
			so.Configure(c)
		}
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	build := so.Functions
	if build == nil {
		build = lambdafn.Build
	}
	deps := lambdafn.Deps{Config: cfg, Clock: s.Clock, Logger: s.logger, Metrics: so.Metrics, AWS: aws.Config{
		Region: s.Region, BaseEndpoint: aws.String(s.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}}
	// Handlers are built lazily, one per concurrent invocation, long after
	// Start's ctx is gone.
	bctx := context.WithoutCancel(ctx)
	opts.Resolver = func(name string) (awslambda.Handler, error) { return build(bctx, name, deps) }
	svc, err := services.Start(ctx, s.Edge, opts)
	if err != nil {
		return err
	}
	s.services.Store(svc)
	s.Sim.SetSink(svc.Events)
	for k, v := range svc.Env() {
		s.SetEnv(k, v)
	}
	return nil
}

// closeServices stops what startServices started: event deliveries, the
// Node runner, the Lambda handlers and dynalite.
func (s *Stack) closeServices() {
	if svc := s.LocalServices(); svc != nil {
		svc.Close()
	}
}
