package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
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
	suppressGrant(grantee, "Launch executions are named by request at run time; describe and stop are limited to the executions of the throttle-handler launch machine.",
		`/^Resource::arn:.+:states:.+:execution:`+*p.machineNames[EntryMachine]+`:\*$/`)
	return start.Combine(watch)
}

// GrantStartLaunchSync is GrantStartLaunch for a state machine whose Task
// runs the launch machine with states:startExecution.sync or .sync:2 (see
// docs/integration.md): it adds events:PutTargets, events:PutRule and
// events:DescribeRule on the rule Step Functions manages for .sync
// integrations, which the parent's role needs to wait for the child: the
// synchronous policy of the AWS Step Functions Developer Guide page "IAM
// policies for AWS Step Functions" (nested workflows).
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
	suppressGrant(grantee, "Results objects are named by request ID at run time; reads are limited to results/ of the throttle-handler results bucket.",
		resultsObjectsPattern)
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee, Actions: jsii.Strings("s3:GetObject"),
		ResourceArns: &[]*string{t.p.results.ArnForObjects(jsii.String(resultsPrefix + "*"))},
	})
}

// suppressGrant records on grantee (when it is a construct: a role, a
// function, a state machine) the cdk-nag finding a grant's run-time named
// resources raise, limited to exactly that resource pattern, so a user's
// app checked with cdk-nag needs no suppression of its own for the grant.
func suppressGrant(grantee awsiam.IGrantable, reason, appliesTo string) {
	if c, ok := grantee.(constructs.IConstruct); ok {
		suppress(c, "AwsSolutions-IAM5", reason, appliesTo)
	}
}

// launchRequestedOnly limits events:PutEvents to LaunchRequested events of
// the product's source, in the form of the AWS page "Example policy: Send
// events to a custom bus in a different account in Amazon EventBridge":
// events:source is multivalued (one per entry of the call), so every
// entry's source must match; events:detail-type is a single string.
func launchRequestedOnly() *map[string]*map[string]any {
	return &map[string]*map[string]any{
		"StringEquals":              {"events:detail-type": launchRequestedDetailType},
		"ForAllValues:StringEquals": {"events:source": []string{launchRequestedSource}},
	}
}

// The envelope fields of a LaunchRequested event (pkg/launch).
const (
	launchRequestedDetailType = launch.DetailLaunchRequested
	launchRequestedSource     = launch.EventSource
)
