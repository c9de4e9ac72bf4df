package stack

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// NewThrottleStack builds the whole product in a stack of its own: a
// ThrottleHandler construct (NewThrottleHandler) with the ID "Default",
// which CDK leaves out of logical IDs and resource names, so the resources
// keep the logical IDs they had before the construct existed (an upgrade
// replaces nothing); and the outputs (AddOutputs), exported as
// <stack name>-<output>. It is environment-agnostic unless props.Env is
// set. Invalid props panic (as CDK constructs throw) with an error naming
// the setting; call props.Settings.Validate first for a clean message.
func NewThrottleStack(scope constructs.Construct, id string, props *ThrottleStackProps) awscdk.Stack {
	if props == nil {
		props = &ThrottleStackProps{}
	}
	// Checked before the stack exists, so a bad setting leaves no half-built
	// stack in the app.
	hp := &HandlerProps{Settings: props.Settings, AssetDir: props.AssetDir, StateMachineDir: props.StateMachineDir, RulesDir: props.RulesDir}
	in := hp.load()
	sprops := props.StackProps
	if sprops.Description == nil {
		sprops.Description = jsii.String("throttle-handler: throttle-aware ECS RunTask / EC2 RunInstances launcher")
	}
	stack := awscdk.NewStack(scope, &id, &sprops)
	th := newThrottleHandler(stack, "Default", in)
	th.AddOutputs(*stack.StackName())
	return stack
}

// addData makes the table, the product bus, the two dead-letter queues and
// the relaunch queue with its own dead-letter queue.
func (p *parts) addData() {
	p.table = awsdynamodb.NewTable(p.scope, jsii.String("Table"), &awsdynamodb.TableProps{
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
	p.bus = awsevents.NewEventBus(p.scope, jsii.String("Bus"), &awsevents.EventBusProps{
		Description: jsii.String("throttle-handler product events: LaunchRequested, LaunchCompleted, LaunchFailed, TaskRelaunched"),
	})
	queue := func(id string) awssqs.Queue {
		return awssqs.NewQueue(p.scope, jsii.String(id), &awssqs.QueueProps{
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
	p.relaunch = awssqs.NewQueue(p.scope, jsii.String("RelaunchQueue"), &awssqs.QueueProps{
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
