package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// parts are the resources the stack's pieces wire together.
type parts struct {
	stack     awscdk.Stack
	settings  settings.Settings
	table     awsdynamodb.Table
	bus       awsevents.EventBus
	dlq       awssqs.Queue // the product's: chunks retry gave up on
	targetDLQ awssqs.Queue // EventBridge targets' and submit's async invokes' undeliverable events
	// relaunch holds the relaunches retry defers (TH_RELAUNCH_QUEUE_URL);
	// retry consumes it. relaunchDLQ takes a relaunch after 10 receives.
	relaunch    awssqs.Queue
	relaunchDLQ awssqs.Queue
	// results holds each request's results object (TH_RESULTS_BUCKET).
	results   awss3.Bucket
	functions map[string]awslambda.Function
	machines  map[string]awsstepfunctions.StateMachine
	// machineNames/ARNs are known before the machines exist (see machines.go).
	machineNames map[string]*string
	machineARNs  map[string]*string
	machineFiles []machineFile
	// machineScopes hold each machine with its log group.
	machineScopes map[string]constructs.Construct
}

// NewThrottleStack builds the whole product: the Lambda functions, the state
// machines of StateMachineDir, the product bus and the rules of
// StateMachineDir/rules, the table, the results bucket, the dead-letter queues, least-privilege
// IAM, alarms and a dashboard. It is environment-agnostic unless props.Env
// is set. Invalid props panic (as CDK constructs throw) with an error naming
// the setting; call props.Settings.Validate first for a clean message.
func NewThrottleStack(scope constructs.Construct, id string, props *ThrottleStackProps) awscdk.Stack {
	if props == nil {
		props = &ThrottleStackProps{}
	}
	if err := props.Settings.Validate(); err != nil {
		panic(fmt.Errorf("throttle stack: %w", err))
	}
	assetDir, smDir := props.AssetDir, props.StateMachineDir
	if assetDir == "" {
		assetDir = filepath.Join(repoRoot(), "build")
	}
	if smDir == "" {
		smDir = filepath.Join(repoRoot(), "statemachines")
	}
	machineFiles, err := loadMachines(smDir)
	if err != nil {
		panic(fmt.Errorf("throttle stack: %w", err))
	}
	rulesDir := props.RulesDir
	if rulesDir == "" {
		rulesDir = filepath.Join(smDir, "rules")
	}
	rules, err := loadRules(rulesDir)
	if err != nil {
		panic(fmt.Errorf("throttle stack: %w", err))
	}
	for _, name := range functionNames() {
		if _, err := os.Stat(filepath.Join(assetDir, name, "bootstrap")); err != nil {
			panic(fmt.Errorf("throttle stack: assetDir: %s: missing (run make build)", filepath.Join(assetDir, name, "bootstrap")))
		}
	}

	sprops := props.StackProps
	if sprops.Description == nil {
		sprops.Description = jsii.String("throttle-handler: throttle-aware ECS RunTask / EC2 RunInstances launcher")
	}
	stack := awscdk.NewStack(scope, &id, &sprops)
	p := &parts{
		stack:         stack,
		settings:      props.Settings.WithDefaults(),
		functions:     map[string]awslambda.Function{},
		machines:      map[string]awsstepfunctions.StateMachine{},
		machineNames:  map[string]*string{},
		machineARNs:   map[string]*string{},
		machineScopes: map[string]constructs.Construct{},
	}
	p.machineFiles = machineFiles
	p.addData()
	p.addResultsBucket()
	p.nameMachines(machineFiles)
	p.addFunctions(assetDir)
	p.addLaunchPermissions()
	p.grantJobs()
	p.addMachines(machineFiles)
	p.addRules(rules)
	p.addAlarms()
	p.addOutputs()
	addNagSuppressions(p)
	return stack
}

// addOutputs exposes what throttlectl and operators need, under the names
// of the environment variables that carry them (pkg/config).
func (p *parts) addOutputs() {
	out := func(id, env string, value *string) {
		awscdk.NewCfnOutput(p.stack, jsii.String(id), &awscdk.CfnOutputProps{
			Value: value, Description: jsii.String(env + " for throttlectl and the functions"),
		})
	}
	out("StateMachineArn", config.EnvStateMachineARN, p.machines[EntryMachine].StateMachineArn())
	out("EventBusName", config.EnvEventBus, p.bus.EventBusName())
	out("TableName", config.EnvTable, p.table.TableName())
	out("DeadLetterQueueUrl", config.EnvDLQURL, p.dlq.QueueUrl())
}

// addData makes the table, the product bus, the two dead-letter queues and
// the relaunch queue with its own dead-letter queue.
func (p *parts) addData() {
	p.table = awsdynamodb.NewTable(p.stack, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String(config.TablePK), Type: awsdynamodb.AttributeType_STRING},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String(config.TableSK), Type: awsdynamodb.AttributeType_STRING},
		TimeToLiveAttribute: jsii.String(config.TableTTL),
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		Encryption: awsdynamodb.TableEncryption_AWS_MANAGED,
		// Requests and their results are the product's record: keep them
		// when the stack is deleted.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	p.bus = awsevents.NewEventBus(p.stack, jsii.String("Bus"), &awsevents.EventBusProps{
		Description: jsii.String("throttle-handler product events: LaunchRequested, LaunchCompleted, LaunchFailed, TaskRelaunched"),
	})
	queue := func(id string) awssqs.Queue {
		return awssqs.NewQueue(p.stack, jsii.String(id), &awssqs.QueueProps{
			// SSE-SQS: EventBridge and Lambda destinations can write to it
			// without a key policy.
			Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:      jsii.Bool(true),
			RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		})
	}
	p.dlq = queue("DeadLetterQueue")
	p.targetDLQ = queue("EventDeadLetterQueue")
	p.relaunchDLQ = queue("RelaunchDeadLetterQueue")
	p.relaunch = awssqs.NewQueue(p.stack, jsii.String("RelaunchQueue"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		// AWS's guidance for a Lambda event source: 6× the function's
		// timeout, so a batch whose invocation is throttled or retried is
		// not received again while it is still being worked on.
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * specOf("retry").Timeout.Seconds())),
		// A relaunch that fails 10 receives (each handled with
		// ReportBatchItemFailures, so only the failing message counts) is
		// kept, alarmed on and redriven by hand, never dropped.
		DeadLetterQueue: &awssqs.DeadLetterQueue{Queue: p.relaunchDLQ, MaxReceiveCount: jsii.Number(10)},
	})
}

func functionNames() []string {
	return []string{"classify", "plan", "runtask", "retry", "summary", "submit"}
}

// repoRoot is the nearest directory at or above the working directory that
// holds go.mod (cdk runs the app from the directory of cdk.json, the
// repository's root); the defaults of AssetDir and StateMachineDir.
func repoRoot() string {
	wd, _ := os.Getwd()
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			return wd
		}
	}
}

// title is "runtask" → "Runtask", for construct IDs.
func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
