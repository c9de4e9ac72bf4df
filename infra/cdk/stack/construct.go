package stack

import (
	"fmt"
	"os"
	"path/filepath"

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
)

// HandlerProps configures NewThrottleHandler: the settings (the same as
// the stack's context keys) and where the built functions and the
// definitions are. The zero Settings are not valid: at least the ECS part
// (Clusters + TaskDefinitions) or the EC2 part (LaunchTemplates + Subnets)
// must be set.
type HandlerProps struct {
	settings.Settings

	// AssetDir holds one folder per function with its bootstrap binary
	// (build/<name>/bootstrap, made by `make build`). Default: build/ of
	// the repository (the nearest go.mod at or above the working directory).
	AssetDir string
	// StateMachineDir holds the *.asl.json definitions. Default: the
	// repository's statemachines/.
	StateMachineDir string
	// RulesDir holds the EventBridge rule files. Default:
	// StateMachineDir/rules.
	RulesDir string
}

// ThrottleHandler is the whole product as one construct in a stack of the
// caller's: its handles are the resources it made, for the caller's own
// grants, alarms and wiring. Everything it makes is its child; it may be
// the scope of the caller's own constructs too.
type ThrottleHandler struct {
	constructs.Construct

	// StateMachine is the launch state machine (statemachines/launch.asl.json):
	// a request's execution, what a parent workflow starts.
	StateMachine awsstepfunctions.StateMachine
	// StateMachines are all the machines by file stem ("launch", and any
	// companion such as "chunk").
	StateMachines map[string]awsstepfunctions.StateMachine
	// EventBus is the product bus: LaunchRequested in; LaunchCompleted,
	// LaunchFailed, LaunchCancelled and TaskRelaunched out.
	EventBus awsevents.EventBus
	// Table holds requests, tasks and (without limiterTableName) the
	// limiter's buckets.
	Table awsdynamodb.Table
	// LimiterTable holds the limiter's buckets: the table named by
	// limiterTableName (imported), or Table.
	LimiterTable awsdynamodb.ITable
	// ResultsBucket holds each request's results object under results/.
	ResultsBucket awss3.Bucket
	// DeadLetterQueue holds the work retry gave up on (TH_DLQ_URL).
	DeadLetterQueue awssqs.Queue
	// EventDeadLetterQueue holds events EventBridge could not deliver to
	// submit or retry, and their failed asynchronous invocations.
	EventDeadLetterQueue awssqs.Queue
	// RelaunchQueue holds deferred relaunches and task state changes that
	// retry consumes (TH_RELAUNCH_QUEUE_URL); RelaunchDeadLetterQueue takes
	// a message after 10 receives.
	RelaunchQueue           awssqs.Queue
	RelaunchDeadLetterQueue awssqs.Queue
	// Functions are the six functions by name: classify, plan, runtask,
	// retry, summary, submit.
	Functions map[string]awslambda.Function

	p *parts
}

// parts are the resources the construct's pieces wire together.
type parts struct {
	scope    constructs.Construct // the ThrottleHandler: every resource's parent
	stack    awscdk.Stack         // its stack: ARNs and the partition
	settings settings.Settings
	table    awsdynamodb.Table
	// limiterTable holds the limiter's buckets: table, or the imported
	// table named by limiterTableName.
	limiterTable awsdynamodb.ITable
	bus          awsevents.EventBus
	dlq          awssqs.Queue // the product's: chunks retry gave up on
	targetDLQ    awssqs.Queue // EventBridge targets' and submit's async invokes' undeliverable events
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
	// entryDef is inputs.entryDefinition.
	entryDef string
}

// inputs are HandlerProps checked and read: what construction needs.
type inputs struct {
	settings settings.Settings
	assetDir string
	machines []machineFile
	rules    []ruleFile
	// entryDefinition is the launch machine's definition with the
	// maxConcurrency setting applied; "" when unset (the file as is).
	entryDefinition string
}

// NewThrottleHandler builds the whole product inside scope, a construct of
// the caller's stack: the Lambda functions, the state machines of
// StateMachineDir, the product bus (with the policy of eventSourceAccounts
// and organizationId) and the rules of RulesDir, the table, the results
// bucket, the queues, least-privilege IAM, alarms and a dashboard, with the
// cdk-nag suppressions of nag.go. It makes no outputs (see AddOutputs).
// Invalid props panic (as CDK constructs throw) with an error naming the
// setting; call props.Settings.Validate first for a clean message.
func NewThrottleHandler(scope constructs.Construct, id string, props *HandlerProps) *ThrottleHandler {
	if props == nil {
		props = &HandlerProps{}
	}
	return newThrottleHandler(scope, id, props.load())
}

// load validates the settings and reads the definitions, panicking with an
// error naming the bad setting or file.
func (hp *HandlerProps) load() inputs {
	if err := hp.Settings.Validate(); err != nil {
		panic(fmt.Errorf("throttle handler: %w", err))
	}
	assetDir, smDir := hp.AssetDir, hp.StateMachineDir
	if assetDir == "" {
		assetDir = filepath.Join(repoRoot(), "build")
	}
	if smDir == "" {
		smDir = filepath.Join(repoRoot(), "statemachines")
	}
	machines, err := loadMachines(smDir)
	if err != nil {
		panic(fmt.Errorf("throttle handler: %w", err))
	}
	rulesDir := hp.RulesDir
	if rulesDir == "" {
		rulesDir = filepath.Join(smDir, "rules")
	}
	rules, err := loadRules(rulesDir)
	if err != nil {
		panic(fmt.Errorf("throttle handler: %w", err))
	}
	for _, name := range functionNames() {
		if _, err := os.Stat(filepath.Join(assetDir, name, "bootstrap")); err != nil {
			panic(fmt.Errorf("throttle handler: assetDir: %s: missing (run make build)", filepath.Join(assetDir, name, "bootstrap")))
		}
	}
	in := inputs{settings: hp.Settings.WithDefaults(), assetDir: assetDir, machines: machines, rules: rules}
	if n := hp.Settings.MaxConcurrency; n != nil {
		if in.entryDefinition, err = withMapConcurrency(filepath.Join(smDir, EntryMachine+".asl.json"), *n); err != nil {
			panic(fmt.Errorf("throttle handler: %w", err))
		}
	}
	return in
}

func newThrottleHandler(scope constructs.Construct, id string, in inputs) *ThrottleHandler {
	// A jsii subclass of Construct, not a struct beside one: the caller can
	// pass it as the scope of constructs of its own.
	th := &ThrottleHandler{}
	constructs.NewConstruct_Override(th, scope, jsii.String(id))
	p := &parts{
		scope:         th,
		stack:         awscdk.Stack_Of(scope),
		settings:      in.settings,
		functions:     map[string]awslambda.Function{},
		machines:      map[string]awsstepfunctions.StateMachine{},
		machineNames:  map[string]*string{},
		machineARNs:   map[string]*string{},
		machineScopes: map[string]constructs.Construct{},
		machineFiles:  in.machines,
		entryDef:      in.entryDefinition,
	}
	p.addData()
	p.addBusPolicy()
	p.addResultsBucket()
	p.nameMachines(in.machines)
	p.addFunctions(in.assetDir)
	p.addLimiterTable()
	p.addLaunchPermissions()
	p.grantJobs()
	p.grantCallbacks()
	p.addMachines(in.machines)
	p.addRules(in.rules)
	p.addAlarms()
	addNagSuppressions(p)
	th.StateMachine, th.StateMachines = p.machines[EntryMachine], p.machines
	th.EventBus, th.Table, th.ResultsBucket = p.bus, p.table, p.results
	th.LimiterTable = p.limiterTable
	th.DeadLetterQueue, th.EventDeadLetterQueue = p.dlq, p.targetDLQ
	th.RelaunchQueue, th.RelaunchDeadLetterQueue = p.relaunch, p.relaunchDLQ
	th.Functions, th.p = p.functions, p
	return th
}
