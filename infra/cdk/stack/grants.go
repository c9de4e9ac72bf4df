package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// syncRuleName is the EventBridge rule Step Functions manages in the
// caller's account for .sync integrations: a parent learns of its child's
// end through it.
const syncRuleName = "StepFunctionsGetEventsForStepFunctionsExecutionRule"

// GrantStartLaunch lets grantee start executions of the launch state
// machine (states:StartExecution on it) and describe and stop them
// (states:DescribeExecution and states:StopExecution on its executions):
// what throttlectl and a parent workflow's startExecution need.
func (t *ThrottleHandler) GrantStartLaunch(grantee awsiam.IGrantable) awsiam.Grant {
	p := t.p
	start := awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee, Actions: jsii.Strings("states:StartExecution"), ResourceArns: &[]*string{p.machineARNs[EntryMachine]},
	})
	watch := awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee, Actions: jsii.Strings("states:DescribeExecution", "states:StopExecution"),
		ResourceArns: &[]*string{p.executionARN(EntryMachine, ":*")},
	})
	return start.Combine(watch)
}

// GrantStartLaunchSync is GrantStartLaunch for a state machine whose Task
// runs the launch machine with states:startExecution.sync or .sync:2 (see
// docs/integration.md): it adds events:PutTargets, events:PutRule and
// events:DescribeRule on the rule Step Functions manages for .sync
// integrations, which the parent's role needs to wait for the child.
func (t *ThrottleHandler) GrantStartLaunchSync(grantee awsiam.IGrantable) awsiam.Grant {
	rule := awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee, Actions: jsii.Strings("events:PutTargets", "events:PutRule", "events:DescribeRule"),
		ResourceArns: &[]*string{t.p.stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("events"), Resource: jsii.String("rule"), ResourceName: jsii.String(syncRuleName),
		})},
	})
	return t.GrantStartLaunch(grantee).Combine(rule)
}

// GrantPutLaunchRequested lets grantee put LaunchRequested events of the
// product's source on the product bus, and no other event: the
// events:detail-type and events:source conditions of the policy.
func (t *ThrottleHandler) GrantPutLaunchRequested(grantee awsiam.IGrantable) awsiam.Grant {
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee, Actions: jsii.Strings("events:PutEvents"), ResourceArns: &[]*string{t.p.bus.EventBusArn()},
		Conditions: launchRequestedOnly(),
	})
}

// GrantReadResults lets grantee read the requests' results objects
// (s3:GetObject under results/ of the results bucket).
func (t *ThrottleHandler) GrantReadResults(grantee awsiam.IGrantable) awsiam.Grant {
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee, Actions: jsii.Strings("s3:GetObject"),
		ResourceArns: &[]*string{t.p.results.ArnForObjects(jsii.String(resultsPrefix + "*"))},
	})
}

// launchRequestedOnly limits events:PutEvents to LaunchRequested events of
// the product's source, in the form of the AWS page "Example policy: Send
// events to a custom bus in a different account in Amazon EventBridge":
// events:source is multivalued (one per entry of the call), so every
// entry's source must match; events:detail-type is a single string.
func launchRequestedOnly() *map[string]*map[string]any {
	return &map[string]*map[string]any{
		"StringEquals":              {"events:detail-type": launch.DetailLaunchRequested},
		"ForAllValues:StringEquals": {"events:source": []string{launch.EventSource}},
	}
}
