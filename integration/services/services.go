package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services/events"
	"github.com/throttle-handler/throttle-handler/integration/services/lambda"
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
	// Configure adjusts the product configuration (limits, defer
	// threshold…) that Config and Env report; it runs after the names are set.
	Configure func(*config.Config)
	// EventDuplicates is the probability that EventBridge delivers an event
	// twice (at least once).
	EventDuplicates float64
	// NoDynamoDB skips dynalite (tests that do not need it start faster).
	NoDynamoDB bool
	// DynamoDBPath keeps dynalite's data on disk, so a restart keeps it.
	DynamoDBPath string
	// RunnerStderr receives the Step Functions runner's diagnostics.
	RunnerStderr io.Writer
	// Logger (default: discard).
	Logger *slog.Logger
}

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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
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
		config.EnvTable:           o.Table,
		config.EnvEventBus:        o.ProductBus,
		config.EnvDLQURL:          fmt.Sprintf("%s/%s/%s", o.Endpoint, account, o.Queue),
		config.EnvStateMachineARN: fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", o.Region, account, statemachines.Launch),
		config.EnvRegion:          o.Region,
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
		s.SFN, sfnErr = sfn.Start(ctx, sfn.Options{Endpoint: o.Endpoint, Clock: o.Clock, Region: o.Region, Account: account, RunnerStderr: o.RunnerStderr})
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
	s.Lambda = lambda.New(resolver, func(lo *lambda.Options) {
		lo.Region, lo.Account, lo.Clock, lo.Logger = o.Region, account, o.Clock, o.Logger
		if o.Lambda != nil {
			o.Lambda(lo)
		}
	})
	var sqsErr error
	s.SQS, sqsErr = startSQS(o)
	wg.Wait()
	if err := errors.Join(sfnErr, ddbErr, sqsErr); err != nil {
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
		SendToDLQ: func(ctx context.Context, q, body string, attrs map[string]string) error {
			_, err := s.SQS.Send(ctx, q, body, attrs)
			return err
		},
		Duplicates: o.EventDuplicates,
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
		target, _ := url.Parse(s.Dynalite.Endpoint)
		r.Handle(RouteDynamoDB, httputil.NewSingleHostReverseProxy(target))
	}
	if o.StateMachinesDir != "-" {
		if err := s.load(ctx, o); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.StartupTime = time.Since(begin)
	return s, nil
}

// startSQS returns the SQS service with the product's dead-letter queue.
func startSQS(o Options) (*sqs.Service, error) {
	q := sqs.New(sqs.Options{Endpoint: o.Endpoint, Region: o.Region, Account: account, Clock: o.Clock})
	if _, err := q.CreateQueue(o.Queue, nil); err != nil {
		return nil, fmt.Errorf("services: Queue %q: %w", o.Queue, err)
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
	rules, err := events.LoadRules(filepath.Join(o.StateMachinesDir, "rules"), o.ProductBus, o.Region, account, s.Config.DLQURL)
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
}

// Stats returns the services' counters.
func (s *Services) Stats() Stats {
	return Stats{Lambda: s.Lambda.Stats(), Events: s.Events.Stats(), Executions: s.SFN.Stats()}
}

// Close stops the services and the child processes. Safe to call twice.
func (s *Services) Close() {
	s.once.Do(func() {
		if s.Events != nil {
			s.Events.Close()
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
