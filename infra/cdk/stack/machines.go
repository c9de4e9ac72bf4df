package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// nameMachines gives every state machine a name derived from its construct
// path (and so from the stack name) before anything references it.
//
// Why names, when the stack otherwise leaves naming to CloudFormation: a
// DISTRIBUTED Map starts child executions of its own machine, so the
// machine's role must name the machine; a Ref from the role's policy to the
// machine, which depends on that policy, is a circular dependency. An ARN
// built from a known name breaks the cycle. The same holds for any function
// that is both a task of a machine and a starter of its executions.
func (p *parts) nameMachines(files []machineFile) {
	for _, m := range files {
		scope := constructs.NewConstruct(p.scope, jsii.String(title(m.Stem)))
		name := awscdk.Names_UniqueResourceName(scope, &awscdk.UniqueResourceNameOptions{
			MaxLength: jsii.Number(80), Separator: jsii.String("-"),
		})
		p.machineScopes[m.Stem] = scope
		p.machineNames[m.Stem] = name
		p.machineARNs[m.Stem] = p.stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("states"),
			Resource:     jsii.String("stateMachine"),
			ResourceName: name,
			ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})
	}
}

// executionARN is the ARN pattern of a machine's executions: suffix ":*"
// for its own executions, "/*" for a DISTRIBUTED Map's child executions.
func (p *parts) executionARN(stem, suffix string) *string {
	return p.stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("states"),
		Resource:     jsii.String("execution"),
		ResourceName: jsii.String(*p.machineNames[stem] + suffix),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

// addMachines makes one Standard state machine per statemachines/*.asl.json,
// from the file itself (DefinitionBody_FromFile: the bytes the local runner
// executes) with the substitutions of docs/contracts.md. Since CDK cannot see
// into a file-based definition, the role is granted here from what the file
// uses (see scanMachine).
func (p *parts) addMachines(files []machineFile) {
	s := p.settings
	for _, m := range files {
		scope := p.machineScopes[m.Stem]
		logs := awslogs.NewLogGroup(scope, jsii.String("Logs"), &awslogs.LogGroupProps{
			// The vendedlogs prefix keeps the log group out of CloudWatch
			// Logs' size-limited resource policy.
			LogGroupName:  jsii.String("/aws/vendedlogs/states/" + *p.machineNames[m.Stem]),
			Retention:     retentionDays(s.LogRetentionDays),
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		subs := map[string]*string{}
		for _, fn := range m.Functions {
			subs[placeholderOf(fn)] = p.functions[fn].FunctionArn()
		}
		if m.UsesBus {
			subs[busPlaceholder] = p.bus.EventBusName()
		}
		for _, child := range m.Machines {
			subs[machinePlaceholder(child)] = p.machines[child].StateMachineArn()
		}
		var subsPtr *map[string]*string
		if len(subs) > 0 {
			subsPtr = &subs
		}
		body := awsstepfunctions.DefinitionBody_FromFile(jsii.String(m.Path), nil)
		if m.Stem == EntryMachine && p.entryDef != "" {
			// maxConcurrency: the file with its Chunks Map changed.
			body = awsstepfunctions.DefinitionBody_FromString(jsii.String(p.entryDef))
		}
		sm := awsstepfunctions.NewStateMachine(scope, jsii.String("StateMachine"), &awsstepfunctions.StateMachineProps{
			StateMachineName:        p.machineNames[m.Stem],
			StateMachineType:        awsstepfunctions.StateMachineType_STANDARD,
			DefinitionBody:          body,
			DefinitionSubstitutions: subsPtr,
			Logs: &awsstepfunctions.LogOptions{
				Destination: logs,
				Level:       awsstepfunctions.LogLevel_ALL,
				// Every event, but not the states' input and output: a
				// request's container overrides may carry secrets, and the
				// execution history (IAM-guarded) already keeps them.
				IncludeExecutionData: jsii.Bool(false),
			},
			TracingEnabled: jsii.Bool(true),
		})
		p.grantMachine(sm, m)
		p.machines[m.Stem] = sm
	}
}

func placeholderOf(function string) string {
	for ph, fn := range functionPlaceholders {
		if fn == function {
			return ph
		}
	}
	panic("no placeholder for function " + function)
}

func (p *parts) grantMachine(sm awsstepfunctions.StateMachine, m machineFile) {
	add := func(sid string, actions []string, resources ...*string) {
		sm.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: &resources,
		}))
	}
	if len(m.Functions) > 0 {
		// The unqualified ARNs only: the definition invokes $LATEST.
		var arns []*string
		for _, fn := range m.Functions {
			arns = append(arns, p.functions[fn].FunctionArn())
		}
		add("InvokeFunctions", []string{"lambda:InvokeFunction"}, arns...)
	}
	if m.UsesBus {
		add("PutProductEvents", []string{"events:PutEvents"}, p.bus.EventBusArn())
	}
	for _, child := range m.Machines {
		add("StartChild"+title(child), []string{"states:StartExecution"}, p.machineARNs[child])
		if m.SyncChildren {
			add("WatchChild"+title(child), []string{"states:DescribeExecution", "states:StopExecution"}, p.executionARN(child, ":*"))
		}
	}
	if m.SyncChildren {
		// .sync integrations learn of a child's end through this managed rule.
		add("SyncRule", []string{"events:PutTargets", "events:PutRule", "events:DescribeRule"}, p.stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("events"), Resource: jsii.String("rule"),
			ResourceName: jsii.String("StepFunctionsGetEventsForStepFunctionsExecutionRule"),
		}))
	}
	if m.Distributed {
		// A DISTRIBUTED Map runs its iterations as child executions of this
		// same machine.
		add("StartMapRunChildren", []string{"states:StartExecution"}, p.machineARNs[m.Stem])
		add("ManageMapRunChildren", []string{"states:DescribeExecution", "states:StopExecution"}, p.executionARN(m.Stem, "/*"))
	}
}
