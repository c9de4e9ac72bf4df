package stack

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// functionSpecs are the stack's functions: settings.Functions, the table
// the local Lambda also runs with.
var functionSpecs = settings.Functions

// addFunctions makes every function with its own role (logs to its own log
// group only: no AWSLambdaBasicExecutionRole), its configuration as the
// environment of pkg/config, and the grants its handler needs.
func (p *parts) addFunctions(assetDir string) {
	s := p.settings
	env := map[string]*string{
		config.EnvTable:    p.table.TableName(),
		config.EnvEventBus: p.bus.EventBusName(),
		config.EnvDLQURL:   p.dlq.QueueUrl(),
		config.EnvLogLevel: jsii.String(s.LogLevel),
		// The limiter's key and the "accounts" level of the limits.
		config.EnvAccountScope: p.accountScope(),
	}
	if s.LimiterTableName != "" {
		env[config.EnvLimiterTable] = jsii.String(s.LimiterTableName)
	}
	if s.LimitsJSON != "" {
		env[config.EnvLimitsJSON] = jsii.String(s.LimitsJSON)
	}
	for name, v := range map[string]float64{
		config.EnvDeferThreshold:   s.DeferThresholdSeconds,
		config.EnvMaxAhead:         s.MaxAheadSeconds,
		config.EnvLimiterBusyRetry: s.LimiterBusyRetrySeconds,
	} {
		if v != 0 { // 0: the functions' default
			env[name] = jsii.String(strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
	for _, spec := range functionSpecs {
		fnEnv := make(map[string]*string, len(env)+1)
		for k, v := range env {
			fnEnv[k] = v
		}
		if spec.NeedsMachine {
			fnEnv[config.EnvStateMachineARN] = p.machineARNs[EntryMachine]
		}
		if spec.Name == "retry" || spec.Name == "summary" || spec.Name == "plan" {
			fnEnv[config.EnvRelaunchQueueURL] = p.relaunch.QueueUrl()
		}
		if spec.Name == "summary" {
			fnEnv[envResultsBucket] = p.results.BucketName()
		}
		logs := awslogs.NewLogGroup(p.scope, jsii.String(spec.ID+"Logs"), &awslogs.LogGroupProps{
			Retention:     retentionDays(s.LogRetentionDays),
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		role := awsiam.NewRole(p.scope, jsii.String(spec.ID+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("throttle-handler " + spec.Name + " function"),
		})
		logs.GrantWrite(role)
		reserved := concurrency(s.ReservedConcurrency()[spec.Name])
		fn := awslambda.NewFunction(p.scope, jsii.String(spec.ID+"Function"), &awslambda.FunctionProps{
			Description:                  jsii.String("throttle-handler " + spec.Name),
			Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture:                 awslambda.Architecture_ARM_64(),
			Handler:                      jsii.String("bootstrap"),
			Code:                         awslambda.Code_FromAsset(jsii.String(filepath.Join(assetDir, spec.Name)), nil),
			MemorySize:                   jsii.Number(float64(spec.MemoryMB)),
			Timeout:                      awscdk.Duration_Seconds(jsii.Number(spec.Timeout.Seconds())),
			Environment:                  &fnEnv,
			Role:                         role,
			LogGroup:                     logs,
			LoggingFormat:                awslambda.LoggingFormat_JSON,
			ApplicationLogLevelV2:        applicationLogLevel(s.LogLevel),
			SystemLogLevelV2:             awslambda.SystemLogLevel_WARN,
			ReservedConcurrentExecutions: reserved,
		})
		if spec.EventTarget {
			// EventBridge invokes asynchronously: an event Lambda accepted
			// but the handler kept failing goes to the OnFailure
			// destination, not to the rule target's DLQ. submit's go to
			// the event DLQ beside its undeliverable requests; retry's are
			// relaunches or chunks it could not handle, work it would
			// otherwise have dead-lettered itself: the product DLQ, where
			// given-up work is read and redriven.
			dest := p.targetDLQ
			if spec.Name == "retry" {
				dest = p.dlq
			}
			fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
				OnFailure:     awslambdadestinations.NewSqsDestination(dest),
				RetryAttempts: jsii.Number(settings.AsyncRetries),
				MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(settings.MaxEventAge.Seconds())),
			})
		}
		p.functions[spec.Name] = fn
	}
	p.grantFunctions()
}

// callbackActions answer a request's task token (its callback): plan when
// the request is refused, summary at its end, retry for heartbeats
// (pkg/handler). Task tokens are not IAM resources: these actions take
// Resource "*" only.
var callbackActions = []string{"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}

// callbackFunctions are the functions that answer callbacks.
var callbackFunctions = []string{"plan", "summary", "retry"}

func (p *parts) grantCallbacks() {
	for _, name := range callbackFunctions {
		p.functions[name].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("AnswerCallbacks"),
			Actions:   jsii.Strings(callbackActions...),
			Resources: jsii.Strings("*"),
		}))
	}
}

// specOf returns the spec of the function named name.
func specOf(name string) settings.Function {
	f, ok := settings.FunctionByName(name)
	if !ok {
		panic("stack: no function spec " + name)
	}
	return f
}

func concurrency(n int) *float64 {
	if n == 0 {
		return nil
	}
	return jsii.Number(float64(n))
}

func applicationLogLevel(level string) awslambda.ApplicationLogLevel {
	switch strings.ToLower(level) {
	case "debug":
		return awslambda.ApplicationLogLevel_DEBUG
	case "warn":
		return awslambda.ApplicationLogLevel_WARN
	case "error":
		return awslambda.ApplicationLogLevel_ERROR
	}
	return awslambda.ApplicationLogLevel_INFO
}

// grantFunctions gives each handler what it calls, and nothing else.
// classify is pure and gets nothing.
func (p *parts) grantFunctions() {
	f := p.functions
	// submit only starts and looks up executions (pkg/submit).
	for _, name := range []string{"plan", "runtask", "retry", "summary"} {
		p.table.GrantReadWriteData(f[name])
	}
	// plan and summary put LaunchCompleted/LaunchFailed; retry puts
	// LaunchFailed and TaskRelaunched.
	for _, name := range []string{"plan", "summary", "retry"} {
		p.bus.GrantPutEventsTo(f[name], nil)
	}
	// retry dead-letters the chunks it gives up on; summary the units a
	// request ended without a decision about.
	for _, name := range []string{"retry", "summary"} {
		f[name].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("DeadLetterGivenUpChunks"),
			Actions:   jsii.Strings("sqs:SendMessage"),
			Resources: jsii.Strings(*p.dlq.QueueArn()),
		}))
	}
	// retry defers relaunches to its queue and consumes it in batches of
	// 10, reporting failed items so only they are received again.
	p.relaunch.GrantSendMessages(f["retry"])
	// plan starts a callback's heartbeat chain on the relaunch queue, and
	// asks whether the execution holding its request id still runs.
	p.relaunch.GrantSendMessages(f["plan"])
	f["plan"].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("DescribeRequestHolder"),
		Actions:   jsii.Strings("states:DescribeExecution"),
		Resources: &[]*string{p.executionARN(EntryMachine, ":*")},
	}))
	f["retry"].AddEventSource(awslambdaeventsources.NewSqsEventSource(p.relaunch, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(10),
		ReportBatchItemFailures: jsii.Bool(true),
	}))
	// submit starts one execution per request and, on
	// ExecutionAlreadyExists, describes it.
	f["submit"].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("StartLaunchExecutions"),
		Actions:   jsii.Strings("states:StartExecution"),
		Resources: &[]*string{p.machineARNs[EntryMachine]},
	}))
	f["submit"].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("DescribeLaunchExecutions"),
		Actions:   jsii.Strings("states:DescribeExecution"),
		Resources: &[]*string{p.executionARN(EntryMachine, ":*")},
	}))
	// submit answers the task token of a request it refuses for good.
	f["submit"].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("AnswerRefusedCallbacks"),
		Actions:   jsii.Strings("states:SendTaskFailure"),
		Resources: jsii.Strings("*"),
	}))
}
