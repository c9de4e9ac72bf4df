// Package throttlehandler is throttle-handler as one CDK construct, for a Go
// CDK app of your own: New places the whole product (functions, state
// machines, product bus and rules, table, results bucket, queues,
// least-privilege IAM, alarms, dashboard, cdk-nag suppressions) inside a
// construct of your stack, and returns its handles and grant helpers:
//
//	th := throttlehandler.New(myStack, "Launcher", &throttlehandler.Props{
//		Settings: settings.Settings{Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}},
//	})
//	th.GrantStartLaunchSync(parentMachine) // a .sync:2 parent workflow
//	th.GrantPutLaunchRequested(submitter)   // puts LaunchRequested on th.EventBus
//	th.GrantReadResults(submitter)          // reads results/<requestId>.jsonl
//	th.AddOutputs("")                       // exports <stack>-Launcher-StateMachineArn, …
//
// The construct is the one the product's own stack is made of
// (stack.NewThrottleStack places it under the ID "Default", which CDK
// leaves out of logical IDs); the implementation and its documentation are
// in package stack (ThrottleHandler, HandlerProps); examples/embed is a
// whole app that uses it. Props.Settings are the settings of the product's
// CDK context keys (infra/cdk/doc.go), including the bus policy's
// eventSourceAccounts and organizationId.
package throttlehandler

import (
	"github.com/aws/constructs-go/constructs/v10"

	"github.com/throttle-handler/throttle-handler/infra/cdk/stack"
)

// Props configures New: the settings, and where the built functions
// (AssetDir, default build/ of the repository) and the definitions
// (StateMachineDir, RulesDir) are.
type Props = stack.HandlerProps

// ThrottleHandler is the construct: handles (StateMachine, EventBus, Table,
// LimiterTable (the shared table of limiterTableName, or Table), ResultsBucket, the queues, Functions by name) and grant helpers
// (GrantStartLaunch, GrantStartLaunchSync, GrantPutLaunchRequested,
// GrantReadResults), and AddOutputs.
type ThrottleHandler = stack.ThrottleHandler

// New builds the product inside scope under id; see stack.NewThrottleHandler.
// Invalid props panic (as CDK constructs throw) with an error naming the
// setting; call props.Settings.Validate first for a clean message.
func New(scope constructs.Construct, id string, props *Props) *ThrottleHandler {
	return stack.NewThrottleHandler(scope, id, props)
}
