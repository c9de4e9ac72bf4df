package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services/esm"
	"github.com/throttle-handler/throttle-handler/integration/services/events"
	"github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/integration/services/s3"
	"github.com/throttle-handler/throttle-handler/integration/services/sfn"
	"github.com/throttle-handler/throttle-handler/integration/services/sqs"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/statemachines"
)

// Names the edge dispatches on (the values of awslocal's Service* constants).
const (
	RouteLambda   = "lambda"
	RouteSFN      = "sfn"
	RouteEvents   = "events"
	RouteSQS      = "sqs"
	RouteDynamoDB = "dynamodb"
	RouteS3       = "s3"
)

// Router registers a service's handler on the edge (*awslocal.Edge).
type Router interface {
	Handle(service string, h http.Handler)
}

// Options configures Start. Only Endpoint and Clock are required.
type Options struct {
	// Endpoint is the edge's URL, http://127.0.0.1:PORT (required).
	Endpoint string
	// Clock is the stack's scaled clock (required).
	Clock *clock.Scaled
	// Region of the local account (default us-east-1).
	Region string
	// Resolver builds a function's handler (the stack passes
	// pkg/lambdafn.Build); nil serves no functions.
	Resolver lambda.Resolver
	// Lambda tweaks the Lambda service (concurrency, timeouts, faults).
	Lambda func(*lambda.Options)
	// StateMachinesDir holds *.asl.json and rules/*.json (default: the
	// repository's statemachines/). "-" loads nothing.
	StateMachinesDir string
	// Substitutions adds to or overrides the local definition substitutions.
	Substitutions map[string]string
	// ProductBus, Queue and Table name the product's bus, dead-letter queue
	// and DynamoDB table (defaults throttle-handler, throttle-handler-dlq,
	// throttle-handler).
	ProductBus, Queue, Table string
	// RelaunchQueue names the relaunch queue (default
	// throttle-handler-relaunch): the retry function's event source, with
	// the dead-letter queue as its redrive target after RelaunchMaxReceives
	// receives (default 10).
	RelaunchQueue       string
	RelaunchMaxReceives int
	// Configure adjusts the product configuration (limits, defer
	// threshold…) that Config and Env report; it runs after the names are set.
	Configure func(*config.Config)
	// EventDuplicates is the probability that EventBridge delivers an event
	// twice (at least once).
	EventDuplicates float64
	// Fidelity turns off emulated AWS behaviours (all on by default).
	Fidelity Fidelity
	// NoDynamoDB skips dynalite (tests that do not need it start faster).
	NoDynamoDB bool
	// DynamoDBPath keeps dynalite's data on disk, so a restart keeps it.
	DynamoDBPath string
	// RunnerStderr receives the Step Functions runner's diagnostics.
	RunnerStderr io.Writer
	// SFN tweaks Step Functions: its AWS behaviours (Map Runs, history
	// limit, Wait lateness) are on unless turned off here.
	SFN func(*sfn.Options)
	// Logger (default: discard).
	Logger *slog.Logger

	// ResultsBucket names the S3 bucket the stack creates for per-task
	// input and results, exported as EnvResultsBucket (default
	// DefaultResultsBucket); "-" serves no S3.
	ResultsBucket string
}

// S3 of the local stack (package s3): the results bucket's default name
// and the variable Env exports it in. Clients use path-style addressing.
const (
	DefaultResultsBucket = "throttle-handler-results"
	EnvResultsBucket     = "TH_RESULTS_BUCKET"
)

func (o *Options) defaults() error {
	if o.Endpoint == "" {
		return errors.New("services: Options.Endpoint is required")
	}
	if o.Clock == nil {
		return errors.New("services: Options.Clock is required")
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.StateMachinesDir == "" {
		o.StateMachinesDir = filepath.Join(testenv.RepoRoot(), "statemachines")
	}
	if o.ProductBus == "" {
		o.ProductBus = "throttle-handler"
	}
	if o.Queue == "" {
		o.Queue = "throttle-handler-dlq"
	}
	if o.Table == "" {
		o.Table = "throttle-handler"
	}
	if o.RelaunchQueue == "" {
		o.RelaunchQueue = "throttle-handler-relaunch"
	}
	if o.RelaunchMaxReceives == 0 {
		o.RelaunchMaxReceives = 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ResultsBucket == "" {
		o.ResultsBucket = DefaultResultsBucket
	}
	o.Endpoint = strings.TrimSuffix(o.Endpoint, "/")
	return nil
}

const account = "000000000000"

// Config returns the product configuration (pkg/config) of a stack started
// with o: what the in-process handlers and throttlectl need. It is known
// before Start, so a Resolver can close over it.
func (o Options) Config() (config.Config, error) {
	if err := o.defaults(); err != nil {
		return config.Config{}, err
	}
	env := map[string]string{
		config.EnvTable:            o.Table,
		config.EnvEventBus:         o.ProductBus,
		config.EnvDLQURL:           fmt.Sprintf("%s/%s/%s", o.Endpoint, account, o.Queue),
		config.EnvRelaunchQueueURL: fmt.Sprintf("%s/%s/%s", o.Endpoint, account, o.RelaunchQueue),
		config.EnvStateMachineARN:  fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", o.Region, account, statemachines.Launch),
		config.EnvRegion:           o.Region,
	}
	// The handlers' results bucket (summary) is the one the stack creates.
	if o.ResultsBucket != "-" {
		env[config.EnvResultsBucket] = o.ResultsBucket
	}
	c, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return config.Config{}, err
	}
	if o.Configure != nil {
		o.Configure(&c)
	}
	return c, nil
}

// Services is a running composition. Its fields are safe for concurrent use.
type Services struct {
	Lambda   *lambda.Service
	SFN      *sfn.Service
	Events   *events.Service
	SQS      *sqs.Service
	Dynalite *testenv.Dynalite // nil with NoDynamoDB
	// Relaunches is the relaunch queue's event source mapping (→ retry).
	Relaunches *esm.Mapping
	// S3 holds the results bucket (nil when Options.ResultsBucket is "-").
	S3 *s3.Service
	// ResultsBucket is the bucket's name ("" without S3).
	ResultsBucket string

	// StateMachines maps machine names (launch, …) to ARNs.
	StateMachines map[string]string
	// Config is the product configuration (see Options.Config).
	Config config.Config
	// StartupTime is how long Start took (real time).
	StartupTime time.Duration

	endpoint string
	once     sync.Once
}

// Start starts every service and registers them on r. Close stops them.
func Start(ctx context.Context, r Router, o Options) (*Services, error) {
	begin := time.Now()
	if err := o.defaults(); err != nil {
		return nil, err
	}
	cfg, err := o.Config()
	if err != nil {
		return nil, err
	}
	s := &Services{Config: cfg, endpoint: o.Endpoint, StateMachines: map[string]string{}}

	// The two child processes start in parallel: they dominate start-up.
	var wg sync.WaitGroup
	var sfnErr, ddbErr error
	wg.Go(func() {
		so := sfn.Options{Endpoint: o.Endpoint, Clock: o.Clock, Region: o.Region, Account: account, RunnerStderr: o.RunnerStderr}
		if o.SFN != nil {
			o.SFN(&so)
		}
		s.SFN, sfnErr = sfn.Start(ctx, so)
	})
	if !o.NoDynamoDB {
		wg.Go(func() {
			s.Dynalite, ddbErr = testenv.StartDynalite(ctx, testenv.DynaliteOptions{Path: o.DynamoDBPath})
			if ddbErr == nil {
				ddbErr = createTable(ctx, s.Dynalite, o.Table)
			}
		})
	}
	resolver := o.Resolver
	if resolver == nil {
		resolver = func(name string) (awsHandler, error) { return nil, fmt.Errorf("no function %s", name) }
	}
	var sqsErr error
	s.SQS, sqsErr = startSQS(o)
	var lambdaErr error
	s.Lambda, lambdaErr = lambda.Create(resolver, stackLambda(cfg), func(lo *lambda.Options) {
		lo.Region, lo.Account, lo.Clock, lo.Logger = o.Region, account, o.Clock, o.Logger
		// Cold starts and the asynchronous queue draw from the stack's seed.
		lo.Seed = o.Fidelity.seed()
		lo.SendToQueue = func(ctx context.Context, q, body string) error {
			_, err := s.SQS.Send(ctx, q, body, nil)
			return err
		}
		if o.Lambda != nil {
			o.Lambda(lo)
		}
	})
	wg.Wait()
	if err := errors.Join(sfnErr, ddbErr, sqsErr, lambdaErr); err != nil {
		s.Close()
		return nil, err
	}
	s.Events, err = events.New(events.Options{
		Region: o.Region, Account: account, Clock: o.Clock, Buses: []string{o.ProductBus},
		Invoke: s.Lambda.InvokeAsync,
		StartExecution: func(ctx context.Context, machineARN, input string) error {
			_, err := s.SFN.StartExecution(ctx, machineARN, "", input)
			return err
		},
		SendMessage: func(ctx context.Context, q, body string) error {
			_, err := s.SQS.Send(ctx, q, body, nil)
			return err
		},
		SendToDLQ: func(ctx context.Context, q, body string, attrs map[string]string) error {
			_, err := s.SQS.Send(ctx, q, body, attrs)
			return err
		},
		Duplicates: o.EventDuplicates,
		Reorder:    o.Fidelity.eventReorder(),
		Rand:       o.Fidelity.rand(2),
		Logger:     o.Logger,
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	r.Handle(RouteLambda, s.Lambda)
	r.Handle(RouteSFN, s.SFN)
	r.Handle(RouteEvents, s.Events)
	r.Handle(RouteSQS, s.SQS)
	if s.Dynalite != nil {
		r.Handle(RouteDynamoDB, newDynamoProxy(s.Dynalite.Endpoint, o.Logger, !o.Fidelity.NoConditionalItem))
	}
	// S3: the results bucket, created before any client can ask for it.
	if o.ResultsBucket != "-" {
		s.S3, s.ResultsBucket = s3.New(o.Clock), o.ResultsBucket
		s.S3.CreateBucket(o.ResultsBucket)
		r.Handle(RouteS3, s.S3)
	}
	if o.StateMachinesDir != "-" {
		if err := s.load(ctx, o); err != nil {
			s.Close()
			return nil, err
		}
	}
	if o.Resolver != nil {
		// Throttled batches are retried for up to 90 s of the relaunch
		// queue's 180 s visibility timeout, leaving retry's 30 s to run.
		s.Relaunches, err = esm.Start(esm.Options{SQS: s.SQS, QueueName: o.RelaunchQueue, Lambda: s.Lambda, Function: "retry",
			Clock: o.Clock, Region: o.Region, Logger: o.Logger, ThrottleRetryFor: 90 * time.Second})
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	s.StartupTime = time.Since(begin)
	return s, nil
}

// startSQS returns the SQS service with the product's dead-letter queue and
// the relaunch queue, whose redrive target is the dead-letter queue.
func startSQS(o Options) (*sqs.Service, error) {
	q := sqs.New(sqs.Options{Endpoint: o.Endpoint, Region: o.Region, Account: account, Clock: o.Clock,
		Duplicates: o.Fidelity.sqsDuplicates(), Reorder: !o.Fidelity.NoSQSReorder, Seed: o.Fidelity.seed()})
	if _, err := q.CreateQueue(o.Queue, nil); err != nil {
		return nil, fmt.Errorf("services: Queue %q: %w", o.Queue, err)
	}
	// As the stack: 6 × retry's 30 s timeout, so a record whose invocation
	// is slow or retried is not received again (and counted towards the
	// redrive) while it is still being handled.
	attrs := map[string]string{"VisibilityTimeout": "180",
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, q.QueueARN(o.Queue), o.RelaunchMaxReceives)}
	if _, err := q.CreateQueue(o.RelaunchQueue, attrs); err != nil {
		return nil, fmt.Errorf("services: RelaunchQueue %q: %w", o.RelaunchQueue, err)
	}
	return q, nil
}

// load defines the state machines and the rules of o.StateMachinesDir.
func (s *Services) load(ctx context.Context, o Options) error {
	subs := statemachines.LocalSubstitutions(o.Region, o.ProductBus)
	for k, v := range o.Substitutions {
		subs[k] = v
	}
	arns, err := s.SFN.LoadDir(ctx, o.StateMachinesDir, o.ProductBus, subs)
	if err != nil {
		return err
	}
	s.StateMachines = arns
	rules, err := events.LoadRules(filepath.Join(o.StateMachinesDir, "rules"), o.ProductBus, o.Region, account, s.Config.DLQURL, s.SQS.QueueARN(o.RelaunchQueue))
	if err != nil {
		return err
	}
	for _, r := range rules {
		if err := s.Events.AddRule(r); err != nil {
			return err
		}
	}
	return nil
}

// Env returns the variables clients and the product's functions need for
// these services: the per-service endpoints aws-sdk-go-v2 honours and the
// TH_* configuration.
func (s *Services) Env() map[string]string {
	env := map[string]string{
		"AWS_ENDPOINT_URL_SFN":         s.endpoint,
		"AWS_ENDPOINT_URL_LAMBDA":      s.endpoint,
		"AWS_ENDPOINT_URL_EVENTBRIDGE": s.endpoint,
		"AWS_ENDPOINT_URL_SQS":         s.endpoint,
	}
	if s.Dynalite != nil {
		env["AWS_ENDPOINT_URL_DYNAMODB"] = s.endpoint
	}
	if s.S3 != nil {
		env["AWS_ENDPOINT_URL_S3"] = s.endpoint
		env[EnvResultsBucket] = s.ResultsBucket
	}
	for k, v := range s.Config.Environ() {
		if v != "" {
			env[k] = v
		}
	}
	return env
}

// Stats is a snapshot of the services' counters (for /_awslocal/stats).
type Stats struct {
	Lambda     lambda.Stats   `json:"lambda"`
	Events     events.Stats   `json:"events"`
	Executions map[string]int `json:"executions"` // by status
	Relaunches esm.Stats      `json:"relaunches"` // the relaunch queue's event source
}

// Stats returns the services' counters.
func (s *Services) Stats() Stats {
	st := Stats{Lambda: s.Lambda.Stats(), Events: s.Events.Stats(), Executions: s.SFN.Stats()}
	if s.Relaunches != nil {
		st.Relaunches = s.Relaunches.Stats()
	}
	return st
}

// Close stops the services and the child processes. Safe to call twice.
func (s *Services) Close() {
	s.once.Do(func() {
		if s.Events != nil {
			s.Events.Close()
		}
		if s.Relaunches != nil {
			s.Relaunches.Stop()
		}
		if s.SFN != nil {
			_ = s.SFN.Close()
		}
		if s.Lambda != nil {
			s.Lambda.Close()
		}
		if s.Dynalite != nil {
			s.Dynalite.Stop()
		}
	})
}
