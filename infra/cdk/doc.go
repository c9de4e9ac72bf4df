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
//	limitsJson            limiter overrides, TH_LIMITS_JSON (a JSON object, ≤ 2 KB): defaults,
//	                      services, accounts ("<account>/<region>"), actions, and lane shares
//	                      ("laneShares": {"normal": 0.3, "low": 0.1}) at any of those levels
//	deferThresholdSeconds TH_DEFER_THRESHOLD_SECONDS (default: the functions' 2 s)
//	maxAheadSeconds       TH_MAX_AHEAD_SECONDS: how far ahead the limiter books slots, in
//	                      [1, 86400] (default: the functions' 900 s)
//	limiterBusyRetrySeconds TH_LIMITER_BUSY_RETRY_SECONDS: when the limiter's table fails,
//	                      callers are answered busy and ask again after this long, in
//	                      [0.1, 900] (default: the functions' 5 s); there is no local fallback
//	limiterTableName      an existing DynamoDB table (this account and Region; string pk, sk;
//	                      TTL expiresAt) for the limiter's buckets, TH_LIMITER_TABLE_NAME:
//	                      stacks naming one table share one limiter (default: the stack's table)
//	accountScope          TH_ACCOUNT_SCOPE, the limiter's key and limitsJson's accounts level
//	                      (default: the stack's "<account>/<region>")
//	maxConcurrency        the launch machine's Chunks Map MaxConcurrency, replacing the
//	                      definition's (default: statemachines/launch.asl.json's; 0 = no limit)
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
// RelaunchQueueUrl, ResultsBucketName, LimiterTableName, AccountScope;
// each description starts with the TH_* variable that carries the value.
//
// One limiter for many stacks: the ECS and EC2 API buckets belong to the
// account in a Region, not to a stack. Stacks launching into one account
// and Region share one limiter by naming one table as limiterTableName
// (their functions get dynamodb:GetItem and dynamodb:UpdateItem on it,
// nothing more). Regions do not share buckets: one table per Region,
// never a DynamoDB global table, whose last-writer-wins replication
// would let two Regions' conditional writes both succeed.
//
// The limiter fails closed: when its table cannot be read or written, an
// acquisition is answered busy (retry after limiterBusyRetrySeconds) and
// nothing launches on a local guess, because a process cannot know what
// the rest of the fleet booked; the limiterBusy alarm counts these.
//
// The stack is one construct, which a Go CDK app of your own can place in
// its own stack: throttlehandler.New (package infra/cdk/throttlehandler),
// with handles and grants; examples/embed is such an app.
//
// Either the ECS group (clusters + taskDefinitions) or the EC2 group
// (launchTemplates + subnets) or both must be set: the launch permissions
// are scoped to exactly those resources.
package main
