// Command cdk (infra/cdk) is the throttle-handler CDK app. `cdk synth` /
// `cdk deploy` run it through cdk.json ({"app": "go run ./infra/cdk"});
// `go run ./infra/cdk` alone synthesizes into cdk.out, reading cdk.json's
// context itself. It needs no AWS credentials to synthesize (the stack is
// environment-agnostic), and fails on any bad setting, missing asset or
// unsuppressed cdk-nag (AwsSolutions) error, naming it.
//
// Settings are CDK context keys: in cdk.json's "context", per command with
// `-c key=value` (lists comma-separated), or in a JSON file named by
// `-c propsFile=path` (keys set directly win over the file).
//
//	clusters              ECS cluster names or ARNs RunTask may target
//	taskDefinitions       task definition ARNs, family:revision, or family (= every revision)
//	taskRoles             task and execution roles (names or ARNs) passed to ECS tasks
//	launchTemplates       EC2 launch template IDs (lt-…)
//	subnets               subnet IDs (subnet-…) for RunInstances
//	instanceProfileRoles  roles of the launch templates' instance profiles (names or ARNs)
//	itemsBuckets          S3 buckets (names) ecs.itemsFrom objects may be read from: plan gets
//	                      s3:GetObject on their objects only (default none: itemsFrom cannot be read)
//	limitsJson            limiter overrides, TH_LIMITS_JSON (a JSON object, ≤ 2 KB)
//	deferThresholdSeconds TH_DEFER_THRESHOLD_SECONDS (default: the functions' 2 s)
//	logLevel              debug | info | warn | error (default info)
//	logRetentionDays      a CloudWatch retention value (default 30)
//	runTaskConcurrency    runtask's reserved concurrency (default 100; 0 = unreserved)
//	retryConcurrency      retry's reserved concurrency (default 20; 0 = unreserved)
//	alarms.throttleRatePercent, alarms.dlqDepth, alarms.failedExecutions,
//	alarms.limiterBusy    alarm thresholds (defaults 5 %, 1, 1, 1); dlqDepth
//	                      applies to each dead-letter queue (product, event, relaunch)
//	alarmTopicArn         an SNS topic every alarm notifies (optional)
//	eventSourceAccounts   other accounts (12-digit IDs) whose principals, and rules forwarding
//	                      to the bus, may put LaunchRequested events on the product bus
//	                      (default none)
//	organizationId        an AWS organization (o-…) whose accounts may do the same (optional)
//	stackName             the stack's name (default ThrottleHandler)
//	assetDir, stateMachineDir, rulesDir   defaults: build/, statemachines/, statemachines/rules/
//
// The stack (package stack) also makes the relaunch queue that retry
// defers relaunches to and consumes (TH_RELAUNCH_QUEUE_URL; its own DLQ
// after 10 receives) and sends retry's failed asynchronous invocations to
// the product DLQ, and the results bucket the summary writes each
// request's results object to (TH_RESULTS_BUCKET); see
// `go doc ./infra/cdk/stack`.
//
// The bus policy (eventSourceAccounts, organizationId) allows only
// events:PutEvents, only on the product bus, and only for events whose
// detail-type is LaunchRequested and whose source is throttle-handler (the
// events:detail-type and events:source condition keys); submit namespaces
// a request from another account by that account.
//
// Outputs (what throttlectl and `throttlectl doctor` read), each exported
// as <stackName>-<output> so that two stacks in one region do not collide:
// StateMachineArn, EventBusName, TableName, DeadLetterQueueUrl,
// RelaunchQueueUrl, ResultsBucketName; each description starts with the
// TH_* variable that carries the value.
//
// The stack is one construct, which a Go CDK app of your own can place in
// its own stack: throttlehandler.New (package infra/cdk/throttlehandler),
// with handles and grants; examples/embed is such an app.
//
// Either the ECS group (clusters + taskDefinitions) or the EC2 group
// (launchTemplates + subnets) or both must be set: the launch permissions
// are scoped to exactly those resources.
package main
