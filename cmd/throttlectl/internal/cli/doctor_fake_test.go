package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	sqtypes "github.com/aws/aws-sdk-go-v2/service/servicequotas/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
	"github.com/throttle-handler/throttle-handler/statemachines"
)

// fakeAWS is a deployed stack in one account, as the SDK clients would
// answer for it; tests change its fields to break one thing at a time.
// errs maps a call's name to the error it answers.
type fakeAWS struct {
	stackStatus cfntypes.StackStatus
	outputs     map[string]string
	resources   []cfntypes.StackResourceSummary
	template    string
	definition  string
	rules       map[string][]ebtypes.Rule // by bus
	targets     map[string][]string       // by rule name
	reserved    map[string]int32          // by function name
	functions   map[string]bool
	limit       int32
	quotas      map[string]float64 // by quota code
	roles       map[string]bool
	taskDefCPU  map[string]string
	errs        map[string]error
	// tables are the tables besides the stack's, with their key schema.
	tables map[string][]ddbtypes.KeySchemaElement
}

const (
	fakeAccount = "111122223333"
	fakeStack   = "ThrottleHandler"
	fakeBus     = "ThrottleHandlerBus"
	fakeDLQ     = "https://sqs.us-east-1.amazonaws.com/111122223333/dlq"
	fakeRelQ    = "https://sqs.us-east-1.amazonaws.com/111122223333/relaunch"
)

func fakeFunctionName(f settings.Function) string { return fakeStack + "-" + f.ID + "Function-x1" }

func fakeFunctionARN(f settings.Function) string {
	return "arn:aws:lambda:us-east-1:" + fakeAccount + ":function:" + fakeFunctionName(f)
}

func queueARN(url string) string {
	return "arn:aws:sqs:us-east-1:" + fakeAccount + ":" + url[strings.LastIndex(url, "/")+1:]
}

// newFakeAWS is a healthy stack at the defaults: runtask 100 and retry 20
// reserved of 1000, quotas above what the limits admit, the roles there.
func newFakeAWS() *fakeAWS {
	f := &fakeAWS{stackStatus: cfntypes.StackStatusUpdateComplete, limit: 1000,
		outputs: map[string]string{"StateMachineArn": "arn:aws:states:us-east-1:" + fakeAccount + ":stateMachine:Launch", "EventBusName": fakeBus,
			"TableName": "ThrottleHandler-Table", "DeadLetterQueueUrl": fakeDLQ,
			"LimiterTableName": "ThrottleHandler-Table", "AccountScope": fakeAccount + "/us-east-1"},
		reserved:   map[string]int32{},
		functions:  map[string]bool{},
		quotas:     map[string]float64{quotaFargate: 4000, quotaEC2: 1000},
		roles:      map[string]bool{"job-task": true, "job-exec": true},
		taskDefCPU: map[string]string{"job:3": "1024"},
		targets:    map[string][]string{}, rules: map[string][]ebtypes.Rule{}, errs: map[string]error{},
	}
	subs := map[string]string{}
	for _, p := range statemachines.Placeholders() {
		subs[p] = "unused"
	}
	for _, fn := range settings.Functions {
		f.functions[fakeFunctionName(fn)] = true
		subs[fn.ID+"FunctionArn"] = fakeFunctionARN(fn)
		f.resources = append(f.resources, stackResource("AWS::Lambda::Function", fn.ID+"Function1A2B3C4D", fakeFunctionName(fn)))
	}
	def, err := statemachines.Load(statemachines.Launch, subs)
	if err != nil {
		panic(err)
	}
	// The figures of TestDoctorFailures are for a Map of 400 (a stack
	// deployed with maxConcurrency 400), whatever the file's default.
	f.definition = strings.Replace(string(def), `"MaxConcurrency": 100,`, `"MaxConcurrency": 400,`, 1)
	if !strings.Contains(f.definition, `"MaxConcurrency": 400,`) {
		panic("fake stack: the launch machine's MaxConcurrency was not found")
	}
	byName := map[string]settings.Function{}
	for _, fn := range settings.Functions {
		byName[fn.Name] = fn
	}
	f.reserved[fakeFunctionName(byName["runtask"])], f.reserved[fakeFunctionName(byName["retry"])] = 100, 20
	f.resources = append(f.resources, stackResource("AWS::SQS::Queue", "RelaunchQueue5F1A2B3C", fakeRelQ),
		stackResource("AWS::SQS::Queue", "RelaunchDeadLetterQueue9A8B7C6D", "https://sqs/other"),
		stackResource("AWS::S3::Bucket", "ResultsBucketA1B2C3D4", "throttlehandler-resultsbucket-x1"))
	files, _ := statemachines.Rules()
	for _, rf := range files {
		bus, name := "default", fakeStack+"-"+rf.Name
		if rf.Bus == statemachines.BusProduct {
			bus = fakeBus
		}
		f.rules[bus] = append(f.rules[bus], ebtypes.Rule{Name: aws.String(name), EventPattern: aws.String(string(rf.Pattern)), State: ebtypes.RuleStateEnabled})
		target := fakeFunctionARN(byName[rf.Target])
		if rf.Via != "" {
			target = queueARN(fakeRelQ)
		}
		f.targets[name] = []string{target}
	}
	f.template = `{"Resources":{"RunTaskPolicy":{"Type":"AWS::IAM::Policy","Properties":{"PolicyDocument":{"Statement":[
		{"Sid":"PassTaskRoles","Action":"iam:PassRole","Resource":[{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::",{"Ref":"AWS::AccountId"},":role/job-task"]]},
			"arn:aws:iam::111122223333:role/service/job-exec"]},
		{"Sid":"RunConfiguredTaskDefinitions","Action":"ecs:RunTask","Resource":{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":ecs:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":task-definition/job:3"]]}},
		{"Action":["ec2:RunInstances","ec2:CreateTags"],"Resource":"*"}]}}}}}`
	return f
}

func stackResource(typ, logical, physical string) cfntypes.StackResourceSummary {
	return cfntypes.StackResourceSummary{ResourceType: aws.String(typ), LogicalResourceId: aws.String(logical),
		PhysicalResourceId: aws.String(physical), ResourceStatus: cfntypes.ResourceStatusCreateComplete}
}

func (f *fakeAWS) clients() doctorClients {
	return doctorClients{cfn: f, lambda: f, sfn: f, events: f, dynamo: f, sqs: f, s3: f, quotas: f, iam: f, ecs: f}
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

func (f *fakeAWS) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	if err := f.errs["DescribeStacks"]; err != nil {
		return nil, err
	}
	if aws.ToString(in.StackName) != fakeStack {
		return nil, apiErr("ValidationError")
	}
	var outs []cfntypes.Output
	for k, v := range f.outputs {
		outs = append(outs, cfntypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)})
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cfntypes.Stack{{StackName: in.StackName, StackStatus: f.stackStatus, Outputs: outs}}}, nil
}

func (f *fakeAWS) ListStackResources(context.Context, *cloudformation.ListStackResourcesInput, ...func(*cloudformation.Options)) (*cloudformation.ListStackResourcesOutput, error) {
	return &cloudformation.ListStackResourcesOutput{StackResourceSummaries: f.resources}, nil
}

func (f *fakeAWS) GetTemplate(context.Context, *cloudformation.GetTemplateInput, ...func(*cloudformation.Options)) (*cloudformation.GetTemplateOutput, error) {
	return &cloudformation.GetTemplateOutput{TemplateBody: aws.String(f.template)}, nil
}

func (f *fakeAWS) GetAccountSettings(context.Context, *lambda.GetAccountSettingsInput, ...func(*lambda.Options)) (*lambda.GetAccountSettingsOutput, error) {
	free := f.limit
	for _, r := range f.reserved {
		free -= r
	}
	return &lambda.GetAccountSettingsOutput{AccountLimit: &lambdatypes.AccountLimit{ConcurrentExecutions: f.limit, UnreservedConcurrentExecutions: aws.Int32(free)}}, nil
}

func (f *fakeAWS) GetFunctionConcurrency(_ context.Context, in *lambda.GetFunctionConcurrencyInput, _ ...func(*lambda.Options)) (*lambda.GetFunctionConcurrencyOutput, error) {
	name := functionOf(aws.ToString(in.FunctionName))
	if !f.functions[name] {
		return nil, apiErr("ResourceNotFoundException")
	}
	out := &lambda.GetFunctionConcurrencyOutput{}
	if r, ok := f.reserved[name]; ok {
		out.ReservedConcurrentExecutions = aws.Int32(r)
	}
	return out, nil
}

func (f *fakeAWS) DescribeStateMachine(_ context.Context, in *sfn.DescribeStateMachineInput, _ ...func(*sfn.Options)) (*sfn.DescribeStateMachineOutput, error) {
	if aws.ToString(in.StateMachineArn) != f.outputs["StateMachineArn"] || f.definition == "" {
		return nil, apiErr("StateMachineDoesNotExist")
	}
	return &sfn.DescribeStateMachineOutput{StateMachineArn: in.StateMachineArn, Status: sfntypes.StateMachineStatusActive, Definition: aws.String(f.definition)}, nil
}

func (f *fakeAWS) DescribeEventBus(_ context.Context, in *eventbridge.DescribeEventBusInput, _ ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error) {
	return &eventbridge.DescribeEventBusOutput{Name: in.Name, Arn: aws.String("arn:aws:events:us-east-1:" + fakeAccount + ":event-bus/" + aws.ToString(in.Name))}, nil
}

func (f *fakeAWS) ListRules(_ context.Context, in *eventbridge.ListRulesInput, _ ...func(*eventbridge.Options)) (*eventbridge.ListRulesOutput, error) {
	return &eventbridge.ListRulesOutput{Rules: f.rules[aws.ToString(in.EventBusName)]}, nil
}

func (f *fakeAWS) ListTargetsByRule(_ context.Context, in *eventbridge.ListTargetsByRuleInput, _ ...func(*eventbridge.Options)) (*eventbridge.ListTargetsByRuleOutput, error) {
	var ts []ebtypes.Target
	for i, arn := range f.targets[aws.ToString(in.Rule)] {
		ts = append(ts, ebtypes.Target{Id: aws.String(fmt.Sprint("Target", i)), Arn: aws.String(arn)})
	}
	return &eventbridge.ListTargetsByRuleOutput{Targets: ts}, nil
}

func (f *fakeAWS) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	keys, shared := f.tables[aws.ToString(in.TableName)]
	if aws.ToString(in.TableName) != f.outputs["TableName"] && !shared {
		return nil, apiErr("ResourceNotFoundException")
	}
	return &dynamodb.DescribeTableOutput{Table: &ddbtypes.TableDescription{TableName: in.TableName, TableStatus: ddbtypes.TableStatusActive, KeySchema: keys}}, nil
}

func (f *fakeAWS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"QueueArn": queueARN(aws.ToString(in.QueueUrl))}}, nil
}

func (f *fakeAWS) ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return &s3.ListObjectsV2Output{}, nil
}

func (f *fakeAWS) GetServiceQuota(_ context.Context, in *servicequotas.GetServiceQuotaInput, _ ...func(*servicequotas.Options)) (*servicequotas.GetServiceQuotaOutput, error) {
	if err := f.errs["GetServiceQuota"]; err != nil {
		return nil, err
	}
	v, ok := f.quotas[aws.ToString(in.QuotaCode)]
	if !ok {
		return nil, apiErr("NoSuchResourceException")
	}
	return &servicequotas.GetServiceQuotaOutput{Quota: &sqtypes.ServiceQuota{QuotaCode: in.QuotaCode, Value: aws.Float64(v)}}, nil
}

func (f *fakeAWS) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	if !f.roles[aws.ToString(in.RoleName)] {
		return nil, apiErr("NoSuchEntity")
	}
	return &iam.GetRoleOutput{}, nil
}

func (f *fakeAWS) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	cpu, ok := f.taskDefCPU[aws.ToString(in.TaskDefinition)]
	if !ok {
		return nil, apiErr("ClientException")
	}
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &ecstypes.TaskDefinition{Cpu: aws.String(cpu)}}, nil
}
