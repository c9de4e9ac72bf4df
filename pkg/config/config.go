// Package config is the one list of environment variables the product's
// functions read. The CDK stack sets them on every function, the local stack
// (integration/awslocal) sets them for the in-process handlers, and
// throttlectl reads the same names. Each main parses them once with Load; an
// error names the variable that is wrong.
//
//	variable                     meaning                                              default
//	TH_TABLE_NAME                DynamoDB table: requests, plans, results,            (required by plan, runtask, retry, submit, status)
//	                             limiter buckets and failover marks
//	TH_LIMITER_TABLE_NAME        DynamoDB table of the limiter's bucket items         TH_TABLE_NAME
//	                             (stacks of one account and Region that name
//	                             one table share one limiter)
//	TH_EVENT_BUS_NAME            the product's EventBridge bus                        (required by retry and plan)
//	TH_DLQ_URL                   the product's dead-letter queue (SQS URL)            (required by retry)
//	TH_RELAUNCH_QUEUE_URL        the relaunch queue (SQS URL): relaunches after       (required by retry)
//	                             TaskFailedToStart wait there for their slot
//	TH_STATE_MACHINE_ARN         the launch state machine                             (required by submit and retry)
//	TH_LIMITS_JSON               limit overrides, JSON (see pkg/limiter)              built-in AWS defaults
//	TH_LIMITS_FILE               the same, read from a file                           unset
//	TH_ACCOUNT_SCOPE             the account/region key of the limiter buckets and    "<AWS_REGION>"; the Lambda
//	                             the "accounts" level of the limits ("<account>/      functions resolve
//	                             <region>"; the CDK stack sets it)                    "<account>/<region>" from
//	                                                                                  their own ARN
//	TH_DEFER_THRESHOLD_SECONDS   a slot further away than this is returned as         2
//	                             "deferred" instead of waited for in Lambda
//	TH_MAX_AHEAD_SECONDS         how far ahead the limiter hands out slots            900
//	TH_LIMITER_BUSY_RETRY_SECONDS when the limiter's table fails, how soon a caller   5
//	                             answered busy asks again (no local fallback)
//	TH_TOKEN_LIFETIME_SECONDS    how long a launch's client token is honoured:        3600
//	                             within it an unknown outcome is replayed, beyond
//	                             it settled by evidence (set it to the emulator's)
//	TH_RESULTS_BUCKET            S3 bucket of per-request results objects (summary)   unset: results in the table only
//	TH_LOG_LEVEL                 debug, info, warn, error                             info
//	AWS_REGION                   the region                                           us-east-1
package config

import (
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Variable names, in one place so the CDK stack and the local stack use the
// same spelling.
const (
	EnvTable            = "TH_TABLE_NAME"
	EnvLimiterTable     = "TH_LIMITER_TABLE_NAME"
	EnvLimiterBusyRetry = "TH_LIMITER_BUSY_RETRY_SECONDS"
	EnvEventBus         = "TH_EVENT_BUS_NAME"
	EnvDLQURL           = "TH_DLQ_URL"
	EnvRelaunchQueueURL = "TH_RELAUNCH_QUEUE_URL"
	EnvStateMachineARN  = "TH_STATE_MACHINE_ARN"
	EnvLimitsJSON       = "TH_LIMITS_JSON"
	EnvLimitsFile       = "TH_LIMITS_FILE"
	EnvAccountScope     = "TH_ACCOUNT_SCOPE"
	EnvDeferThreshold   = "TH_DEFER_THRESHOLD_SECONDS"
	EnvMaxAhead         = "TH_MAX_AHEAD_SECONDS"
	EnvTokenLifetime    = "TH_TOKEN_LIFETIME_SECONDS"
	EnvLogLevel         = "TH_LOG_LEVEL"
	EnvResultsBucket    = "TH_RESULTS_BUCKET"
	EnvRegion           = "AWS_REGION"
)

// The product's DynamoDB table has one key schema for everything it holds
// (requests, plans, chunk results, limiter buckets, failover marks): a string
// partition key, a string sort key, and a TTL attribute in epoch seconds.
const (
	TablePK  = "pk"
	TableSK  = "sk"
	TableTTL = "expiresAt"
)

// Config is the parsed, validated environment. The zero value is not valid;
// use Load.
type Config struct {
	Table    string
	EventBus string
	DLQURL   string
	// RelaunchQueueURL is the SQS queue a relaunch waits on (with a
	// message delay) when its limiter slot is far away.
	RelaunchQueueURL string
	StateMachineARN  string
	// LimitsJSON is the raw limit override document (from TH_LIMITS_JSON or
	// the file named by TH_LIMITS_FILE); empty means the built-in defaults.
	LimitsJSON string
	// LimiterTable is the table of the limiter's bucket items
	// (TH_LIMITER_TABLE_NAME); Load defaults it to Table.
	LimiterTable string
	// AccountScope is the limiter's account/region scope.
	AccountScope string
	// AccountScopeDefault says AccountScope is only the region because
	// TH_ACCOUNT_SCOPE was unset: a Lambda function then resolves
	// "<account>/<region>" from its own ARN (pkg/lambdafn).
	AccountScopeDefault bool
	// LimiterBusyRetry is how soon a caller the limiter answered busy
	// (its table failing) asks again.
	LimiterBusyRetry time.Duration
	DeferThreshold   time.Duration
	MaxAhead         time.Duration
	// TokenLifetime is how long after a launch's first send its client
	// token certainly binds (see handler.RunTaskOptions.TokenLifetime).
	TokenLifetime time.Duration
	LogLevel      slog.Level
	Region        string
	// ResultsBucket is the S3 bucket the summary writes each request's
	// results object to; empty: results stay in the table only.
	ResultsBucket string
}

// Load parses the environment through getenv (os.Getenv in mains, a map in
// tests). required lists variables that must be set for the caller.
func Load(getenv func(string) string, required ...string) (Config, error) {
	c := Config{
		Table:            getenv(EnvTable),
		EventBus:         getenv(EnvEventBus),
		DLQURL:           getenv(EnvDLQURL),
		RelaunchQueueURL: getenv(EnvRelaunchQueueURL),
		StateMachineARN:  getenv(EnvStateMachineARN),
		LimitsJSON:       getenv(EnvLimitsJSON),
		Region:           getenv(EnvRegion),
		ResultsBucket:    getenv(EnvResultsBucket),
		DeferThreshold:   2 * time.Second,
		MaxAhead:         900 * time.Second,
		TokenLifetime:    time.Hour,
		LimiterBusyRetry: 5 * time.Second,
	}
	for _, name := range required {
		if strings.TrimSpace(getenv(name)) == "" {
			return Config{}, fmt.Errorf("config: %s is required but not set", name)
		}
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if err := c.loadLimiter(getenv); err != nil {
		return Config{}, err
	}
	if f := getenv(EnvLimitsFile); f != "" {
		if c.LimitsJSON != "" {
			return Config{}, fmt.Errorf("config: set %s or %s, not both", EnvLimitsJSON, EnvLimitsFile)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", EnvLimitsFile, err)
		}
		c.LimitsJSON = string(b)
	}
	var err error
	if c.DeferThreshold, err = seconds(getenv, EnvDeferThreshold, c.DeferThreshold, 0, 900); err != nil {
		return Config{}, err
	}
	if c.MaxAhead, err = seconds(getenv, EnvMaxAhead, c.MaxAhead, 1, 86400); err != nil {
		return Config{}, err
	}
	if c.TokenLifetime, err = seconds(getenv, EnvTokenLifetime, c.TokenLifetime, 1, 86400); err != nil {
		return Config{}, err
	}
	if v := getenv(EnvLogLevel); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return Config{}, fmt.Errorf("config: %s: must be debug, info, warn or error, got %q", EnvLogLevel, v)
		}
	}
	return c, nil
}

// FromMap returns the getenv Load reads for an environment held in a map
// (tests, the local stack, Environ's answer); unset names read "".
func FromMap(env map[string]string) func(string) string {
	return func(name string) string { return env[name] }
}

// loadLimiter reads the limiter's table, account scope and busy retry.
func (c *Config) loadLimiter(getenv func(string) string) error {
	c.LimiterTable = getenv(EnvLimiterTable)
	if c.LimiterTable == "" {
		c.LimiterTable = c.Table
	} else if !ValidTableName(c.LimiterTable) {
		return fmt.Errorf("config: %s: must be a DynamoDB table name (3-255 of a-z, A-Z, 0-9, _ . -), got %q", EnvLimiterTable, c.LimiterTable)
	}
	c.AccountScope = getenv(EnvAccountScope)
	if c.AccountScope == "" {
		c.AccountScope, c.AccountScopeDefault = c.Region, true
	}
	var err error
	c.LimiterBusyRetry, err = seconds(getenv, EnvLimiterBusyRetry, c.LimiterBusyRetry, 0.1, 900)
	return err
}

var tableNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

// ValidTableName reports whether name follows DynamoDB's table naming
// rules (Amazon DynamoDB Developer Guide: "Supported data types and naming
// rules in Amazon DynamoDB").
func ValidTableName(name string) bool { return tableNameRE.MatchString(name) }

// ScopeOf is the limiter's account scope "<account>/<region>": the key of
// the "accounts" level of the limits and of the bucket items.
func ScopeOf(account, region string) string { return account + "/" + region }

func seconds(getenv func(string) string, name string, def time.Duration, lo, hi float64) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f > hi {
		return 0, fmt.Errorf("config: %s: must be seconds in [%g, %g], got %q", name, lo, hi, v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// Environ returns c as the environment variables Load reads, for the local
// stack and tests to hand to in-process handlers.
func (c Config) Environ() map[string]string {
	return map[string]string{
		EnvTable:            c.Table,
		EnvEventBus:         c.EventBus,
		EnvDLQURL:           c.DLQURL,
		EnvRelaunchQueueURL: c.RelaunchQueueURL,
		EnvStateMachineARN:  c.StateMachineARN,
		EnvLimitsJSON:       c.LimitsJSON,
		EnvLimiterTable:     c.explicitLimiterTable(),
		EnvAccountScope:     c.explicitScope(),
		EnvLimiterBusyRetry: strconv.FormatFloat(c.LimiterBusyRetry.Seconds(), 'f', -1, 64),
		EnvDeferThreshold:   strconv.FormatFloat(c.DeferThreshold.Seconds(), 'f', -1, 64),
		EnvMaxAhead:         strconv.FormatFloat(c.MaxAhead.Seconds(), 'f', -1, 64),
		EnvTokenLifetime:    strconv.FormatFloat(c.TokenLifetime.Seconds(), 'f', -1, 64),
		EnvLogLevel:         c.LogLevel.String(),
		EnvRegion:           c.Region,
		EnvResultsBucket:    c.ResultsBucket,
	}
}

// explicitLimiterTable is TH_LIMITER_TABLE_NAME ("" when it is the
// product's table).
func (c Config) explicitLimiterTable() string {
	if c.LimiterTable == c.Table {
		return ""
	}
	return c.LimiterTable
}

// explicitScope is TH_ACCOUNT_SCOPE as it was set ("" when it defaulted to
// the region), so Environ round-trips AccountScopeDefault.
func (c Config) explicitScope() string {
	if c.AccountScopeDefault {
		return ""
	}
	return c.AccountScope
}
