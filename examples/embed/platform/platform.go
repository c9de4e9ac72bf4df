// Package platform is the stack of examples/embed: a user's own stack that
// places the throttle-handler construct next to its own resources and
// wires them to it through the construct's handles and grants.
package platform

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
	"github.com/throttle-handler/throttle-handler/infra/cdk/throttlehandler"
)

// Options are what the example leaves to its caller.
type Options struct {
	awscdk.StackProps
	// Settings say where the product may launch (see infra/cdk/doc.go).
	Settings settings.Settings
	// AssetDir holds the built functions; default: the repository's build/.
	AssetDir string
}

// Platform is the user's stack and what it holds.
type Platform struct {
	Stack    awscdk.Stack
	Launcher *throttlehandler.ThrottleHandler
	// Parent is the user's workflow: it runs one launch request as a
	// .sync:2 child of the launch machine and returns its summary.
	Parent awsstepfunctions.StateMachine
	// Submitter is a role of the user's (here for a Lambda function) that
	// puts LaunchRequested events and reads the results objects.
	Submitter awsiam.Role
	// Outcomes receives every LaunchCompleted and LaunchFailed event.
	Outcomes awssqs.Queue
}

// parentDefinition runs the request (the parent's input) on the launch
// machine and waits for it (.sync:2: the child's output as JSON). A failed
// launch reaches the parent as States.TaskFailed whose Cause is the child's
// description as a JSON string; the Catch keeps the child's own error and
// cause.
const parentDefinition = `{
  "Comment": "Runs one launch request on the throttle-handler launch machine and waits for its summary.",
  "StartAt": "Launch",
  "States": {
    "Launch": {
      "Type": "Task",
      "Resource": "arn:aws:states:::states:startExecution.sync:2",
      "Parameters": {"StateMachineArn": "${LaunchStateMachineArn}", "Input.$": "$"},
      "OutputPath": "$.Output",
      "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.launchError", "Next": "LaunchFailed"}],
      "End": true
    },
    "LaunchFailed": {
      "Type": "Pass",
      "Parameters": {"child.$": "States.StringToJson($.launchError.Cause)"},
      "Next": "Failed"
    },
    "Failed": {"Type": "Fail", "ErrorPath": "$.child.Error", "CausePath": "$.child.Cause"}
  }
}`

// New builds the user's stack: the product as the construct "Launcher",
// the user's parent workflow, submitter role and outcomes queue, and the
// product's outputs exported as <stack name>-Launcher-<output>.
func New(scope constructs.Construct, id string, opts Options) *Platform {
	stack := awscdk.NewStack(scope, &id, &opts.StackProps)
	th := throttlehandler.New(stack, "Launcher", &throttlehandler.Props{Settings: opts.Settings, AssetDir: opts.AssetDir})
	th.AddOutputs("")

	parent := awsstepfunctions.NewStateMachine(stack, jsii.String("Parent"), &awsstepfunctions.StateMachineProps{
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(parentDefinition)),
		DefinitionSubstitutions: &map[string]*string{"LaunchStateMachineArn": th.StateMachine.StateMachineArn()},
		TracingEnabled:          jsii.Bool(true),
	})
	// Start, describe and stop launch executions, and the managed rule a
	// .sync task waits through.
	th.GrantStartLaunchSync(parent)

	submitter := awsiam.NewRole(stack, jsii.String("Submitter"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("submits launch requests and reads their results"),
	})
	th.GrantPutLaunchRequested(submitter)
	th.GrantReadResults(submitter)

	outcomes := awssqs.NewQueue(stack, jsii.String("Outcomes"), &awssqs.QueueProps{
		Encryption: awssqs.QueueEncryption_SQS_MANAGED, EnforceSSL: jsii.Bool(true),
	})
	awsevents.NewRule(stack, jsii.String("OutcomesRule"), &awsevents.RuleProps{
		EventBus: th.EventBus,
		EventPattern: &awsevents.EventPattern{
			Source: jsii.Strings("throttle-handler"), DetailType: jsii.Strings("LaunchCompleted", "LaunchFailed"),
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewSqsQueue(outcomes, nil)},
	})
	return &Platform{Stack: stack, Launcher: th, Parent: parent, Submitter: submitter, Outcomes: outcomes}
}
