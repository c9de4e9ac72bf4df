// Package wire builds the launch handlers (plan, runtask, retry, summary)
// from the parsed environment and an AWS configuration: the clients, the
// fleet-wide limiter on its table (TH_LIMITER_TABLE_NAME, by default the
// product's), EMF metrics on stdout. The
// pkg/lambdafn registry calls these builders, so the Lambda mains,
// throttlectl invoke and the local Lambda endpoint run the same handlers.
package wire

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// Deps are what a handler is built from (pkg/lambdafn's Deps). Config and
// AWS are required by the handlers that call AWS; a nil Clock means the
// wall clock, a nil Logger discards, and nil Metrics means os.Stdout
// (Lambda's log stream; in-process users such as the demo route the EMF
// lines elsewhere).
type Deps struct {
	Config  config.Config
	AWS     aws.Config
	Clock   clock.Clock
	Logger  *slog.Logger
	Metrics io.Writer
}

// Filled returns d with its defaults.
func (d Deps) Filled() Deps {
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = os.Stdout
	}
	return d
}

func (d Deps) recorder(function string) handler.Recorder {
	return handler.NewEMF(d.Metrics, function, d.Clock.Now)
}

func need(cfg config.Config, function string, vars ...string) error {
	env := cfg.Environ()
	for _, v := range vars {
		if env[v] == "" {
			return fmt.Errorf("%s: %s is required but not set", function, v)
		}
	}
	return nil
}

// limiterRecorder forwards the limiter's counters to the function's EMF
// recorder as Limiter.<metric>.
type limiterRecorder struct{ r handler.Recorder }

func (l limiterRecorder) Add(m limiter.Metric, _ string, v float64) {
	l.r.Add("Limiter."+string(m), v, m.Unit())
}

// LimiterStore is the limiter's store on cfg's limiter table (the
// product's when TH_LIMITER_TABLE_NAME is unset), with the product's key
// schema: a table shared by several stacks must have it too.
func LimiterStore(db limiter.DynamoAPI, cfg config.Config) *limiter.DynamoStore {
	table := cfg.LimiterTable
	if table == "" {
		table = cfg.Table
	}
	return limiter.NewDynamoStore(db, table, func(o *limiter.DynamoOptions) {
		o.PartitionKey, o.SortKey, o.TTLAttribute = config.TablePK, config.TableSK, config.TableTTL
	})
}

func newLimiter(d Deps, db *dynamodb.Client, rec handler.Recorder) (*limiter.Distributed, limiter.Store, error) {
	store := LimiterStore(db, d.Config)
	lim, err := NewLimiter(store, d.Config, func(o *limiter.Options) {
		o.Clock, o.Logger, o.Recorder = d.Clock, d.Logger, limiterRecorder{rec}
	})
	if err != nil {
		return nil, nil, err
	}
	return lim, store, nil
}

// CallHorizon is the limiter's in-flight horizon for the product's calls:
// runtask re-checks a slot it slept for just before calling (one read), so
// a decrease can move every position but those of calls already on their
// way — the read's and the call's round trips, well under half a second.
// Every process that signals must use it: the decrease that re-anchors is
// computed by whichever process reports the throttle.
const CallHorizon = 500 * time.Millisecond

// NewLimiter builds the fleet-wide limiter on store from the parsed
// environment: limits from cfg.LimitsJSON over the built-in defaults, and
// the account scope, look-ahead and busy retry from cfg; optFns apply
// after them. It fails closed: a store failure answers busy (retry after
// cfg.LimiterBusyRetry), nothing falls back to a local limit. EarlyCalls stays 0: pkg/launch calls at the slot. A bad
// limits document is an error naming TH_LIMITS_JSON.
func NewLimiter(store limiter.Store, cfg config.Config, optFns ...func(*limiter.Options)) (*limiter.Distributed, error) {
	lims, err := limiter.ParseLimits(cfg.LimitsJSON)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvLimitsJSON, err)
	}
	fromEnv := func(o *limiter.Options) {
		o.AccountScope, o.MaxAhead, o.BusyRetry = cfg.AccountScope, cfg.MaxAhead, cfg.LimiterBusyRetry
		o.InFlight = CallHorizon
	}
	return limiter.NewDistributed(store, lims, append([]func(*limiter.Options){fromEnv}, optFns...)...), nil
}

// Plan builds the plan handler.
func Plan(d Deps) (*handler.PlanHandler, error) {
	d = d.Filled()
	if err := need(d.Config, "plan", config.EnvTable); err != nil {
		return nil, err
	}
	st := launchstore.NewDynamoDB(dynamodb.NewFromConfig(d.AWS), d.Config.Table)
	return handler.NewPlanHandler(st, func(o *handler.HandlerOptions) {
		o.Clock, o.Logger, o.Metrics, o.Bus = d.Clock, d.Logger, d.recorder("plan"), d.Config.EventBus
		o.S3 = NewS3(d.AWS)
		o.Executions = sfn.NewFromConfig(d.AWS) // is the request id's holder still running?
		o.Callback = newCallback(d, st, o.Options)
	}), nil
}

// RunTask builds the runtask handler.
func RunTask(d Deps) (*handler.RunTask, error) {
	d = d.Filled()
	if err := need(d.Config, "runtask", config.EnvTable); err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(d.AWS)
	rec := d.recorder("runtask")
	lim, _, err := newLimiter(d, db, rec)
	if err != nil {
		return nil, err
	}
	return handler.NewRunTask(launchstore.NewDynamoDB(db, d.Config.Table), lim, ecs.NewFromConfig(d.AWS), ec2.NewFromConfig(d.AWS),
		func(o *handler.RunTaskOptions) {
			o.Clock, o.Logger, o.Metrics = d.Clock, d.Logger, rec
			o.DeferThreshold, o.AccountScope = d.Config.DeferThreshold, d.Config.AccountScope
			o.TokenLifetime = d.Config.TokenLifetime
		}), nil
}

// RetryHandlers are the two handlers the retry function serves: chunk
// retries from the state machine, and ECS events (EventBridge, relaunch
// queue).
type RetryHandlers struct {
	Chunk    *handler.ChunkRetry
	Relaunch *handler.Relaunch
}

// Retry builds the retry function's handlers.
func Retry(d Deps) (RetryHandlers, error) {
	d = d.Filled()
	if err := need(d.Config, "retry", config.EnvTable, config.EnvEventBus, config.EnvDLQURL, config.EnvRelaunchQueueURL); err != nil {
		return RetryHandlers{}, err
	}
	db := dynamodb.NewFromConfig(d.AWS)
	rec := d.recorder("retry")
	lim, _, err := newLimiter(d, db, rec)
	if err != nil {
		return RetryHandlers{}, err
	}
	st, peek := launchstore.NewDynamoDB(db, d.Config.Table), handler.StorePeeker{Limiter: lim}
	base := handler.Options{Clock: d.Clock, Logger: d.Logger, Metrics: rec}
	base.Callback = newCallback(d, st, base)
	chunk := handler.NewChunkRetry(st, eventbridge.NewFromConfig(d.AWS), sqs.NewFromConfig(d.AWS), func(o *handler.ChunkRetryOptions) {
		o.Options, o.Peek, o.Bus, o.DLQURL = base, peek, d.Config.EventBus, d.Config.DLQURL
	})
	relaunch := handler.NewRelaunch(st, lim, ecs.NewFromConfig(d.AWS), eventbridge.NewFromConfig(d.AWS), sqs.NewFromConfig(d.AWS),
		func(o *handler.RelaunchOptions) {
			o.Options, o.Peek, o.Bus, o.DLQURL = base, peek, d.Config.EventBus, d.Config.DLQURL
			o.DeferThreshold, o.RelaunchQueueURL = d.Config.DeferThreshold, d.Config.RelaunchQueueURL
			o.TokenLifetime = d.Config.TokenLifetime
		})
	return RetryHandlers{Chunk: chunk, Relaunch: relaunch}, nil
}

// Summary builds the summary handler.
func Summary(d Deps) (*handler.SummaryHandler, error) {
	d = d.Filled()
	if err := need(d.Config, "summary", config.EnvTable, config.EnvEventBus); err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(d.AWS)
	st, rec := launchstore.NewDynamoDB(db, d.Config.Table), d.recorder("summary")
	tracker, err := newTracker(d, db, st, rec)
	if err != nil {
		return nil, err
	}
	return handler.NewSummaryHandler(st, eventbridge.NewFromConfig(d.AWS), func(o *handler.HandlerOptions) {
		o.Clock, o.Logger, o.Metrics, o.Bus = d.Clock, d.Logger, rec, d.Config.EventBus
		o.S3, o.ResultsBucket = NewS3(d.AWS), d.Config.ResultsBucket
		o.Sweeper = tracker
		o.Callback = newCallback(d, st, o.Options)
	}).WithDeadLetters(sqs.NewFromConfig(d.AWS), d.Config.DLQURL).WithResultsTable(d.Config.Table), nil
}

// newCallback answers requests' task tokens through Step Functions, with
// the relaunch queue (when the function has it) carrying heartbeats.
func newCallback(d Deps, st launchstore.Store, o handler.Options) *handler.Callback {
	c := handler.NewCallback(st, sfn.NewFromConfig(d.AWS), o)
	if d.Config.RelaunchQueueURL != "" {
		c.WithQueue(sqs.NewFromConfig(d.AWS), d.Config.RelaunchQueueURL)
	}
	return c
}

// newTracker is the summary's Sweeper: it describes a waiting request's
// overdue tasks (through the limiter's DescribeTasks bucket), stops the
// attempts past their timeout and follows EC2 instances to ec2.waitFor;
// a stop that needs a replacement goes to the relaunch queue (when set).
func newTracker(d Deps, db *dynamodb.Client, st launchstore.Store, rec handler.Recorder) (*handler.Tracker, error) {
	lim, _, err := newLimiter(d, db, rec)
	if err != nil {
		return nil, err
	}
	return handler.NewTracker(st, lim, ecs.NewFromConfig(d.AWS), func(o *handler.TrackerOptions) {
		o.Options = handler.Options{Clock: d.Clock, Logger: d.Logger, Metrics: rec}
		o.RelaunchQueueURL, o.SQS = d.Config.RelaunchQueueURL, sqs.NewFromConfig(d.AWS)
		o.EC2, o.DeferThreshold = ec2.NewFromConfig(d.AWS), d.Config.DeferThreshold
	}), nil
}

// NewS3 is the S3 client of plan (ecs.itemsFrom) and summary (results
// objects). An endpoint of its own (the local stack's, from the config or
// AWS_ENDPOINT_URL_S3) is addressed path-style: its host is an IP address,
// which cannot carry a bucket as a subdomain. On AWS, virtual-hosted
// style, the SDK's default ("Amazon S3 User Guide: Virtual hosting of
// buckets").
func NewS3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = o.BaseEndpoint != nil
	})
}
