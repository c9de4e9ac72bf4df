package stack

import (
	"fmt"
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// Output IDs: throttlectl, the README and `throttlectl doctor` read the
// stack's outputs by these keys; each output's description starts with the
// environment variable that carries its value (pkg/config).
const (
	OutputStateMachineArn    = "StateMachineArn"
	OutputEventBusName       = "EventBusName"
	OutputTableName          = "TableName"
	OutputDeadLetterQueueURL = "DeadLetterQueueUrl"
	OutputRelaunchQueueURL   = "RelaunchQueueUrl"
	OutputResultsBucketName  = "ResultsBucketName"
	// OutputLimiterTableName is the limiter's table (the stack's own, or
	// limiterTableName's); OutputAccountScope the key of its buckets.
	OutputLimiterTableName = "LimiterTableName"
	OutputAccountScope     = "AccountScope"
)

// exportNameRE is what CloudFormation accepts in an export name.
var exportNameRE = regexp.MustCompile(`^[A-Za-z0-9:-]+$`)

// AddOutputs adds the product's outputs (the Output* IDs) as children of
// the construct, each exported as <exportPrefix>-<ID>: exports are unique
// per account and region, so the prefix must be too (NewThrottleStack uses
// the stack's name). An empty exportPrefix means <stack name>-<construct
// ID>. Under the construct ID "Default" the outputs' logical IDs are the
// bare Output* IDs (what NewThrottleStack makes); under another ID CDK
// prefixes them with the construct's path, and their keys in the stack are
// no longer the bare names throttlectl's README looks up.
func (t *ThrottleHandler) AddOutputs(exportPrefix string) {
	p := t.p
	if exportPrefix == "" {
		exportPrefix = *p.stack.StackName() + "-" + *t.Node().Id()
	}
	if !exportNameRE.MatchString(exportPrefix) {
		panic(fmt.Errorf("throttle handler: export prefix %q: only letters, digits, colons and hyphens", exportPrefix))
	}
	out := func(id, env string, value *string) {
		awscdk.NewCfnOutput(p.scope, jsii.String(id), &awscdk.CfnOutputProps{
			Value:       value,
			Description: jsii.String(env + " for throttlectl and the functions"),
			ExportName:  jsii.String(exportPrefix + "-" + id),
		})
	}
	out(OutputStateMachineArn, config.EnvStateMachineARN, p.machines[EntryMachine].StateMachineArn())
	out(OutputEventBusName, config.EnvEventBus, p.bus.EventBusName())
	out(OutputTableName, config.EnvTable, p.table.TableName())
	out(OutputDeadLetterQueueURL, config.EnvDLQURL, p.dlq.QueueUrl())
	out(OutputRelaunchQueueURL, config.EnvRelaunchQueueURL, p.relaunch.QueueUrl())
	out(OutputResultsBucketName, config.EnvResultsBucket, p.results.BucketName())
	out(OutputLimiterTableName, config.EnvLimiterTable, p.limiterTable.TableName())
	out(OutputAccountScope, config.EnvAccountScope, p.accountScope())
}
