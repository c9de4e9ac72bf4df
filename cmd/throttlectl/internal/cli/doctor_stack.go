package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
)

// target is what doctor checks: the product's names, and what the checks
// learn on the way.
type target struct {
	machine, bus, table, dlqURL, relaunchURL, bucket string
	relaunchARN                                      string
	// limiterTable holds the limiter's buckets (the product table unless
	// limiterTableName named a shared one).
	limiterTable string
	// functions maps the product's function names (plan, runtask, …) to
	// their deployed names or ARNs; inMap holds those the launch Map
	// invokes; mapConcurrency is its MaxConcurrency.
	functions      map[string]string
	inMap          map[string]bool
	mapConcurrency int
	// reserved holds the reserved concurrency of the functions that have
	// one.
	reserved map[string]int
	roles    []string
	taskDefs []string
	// ec2 is set when the stack may call RunInstances; ecs when its
	// template (read: template) lets it run task definitions.
	ec2, ecs, template bool
}

// outputs the stack must have (pkg/config's variables, infra/cdk).
var requiredOutputs = []string{"StateMachineArn", "EventBusName", "TableName"}

// checkStack reads --stack-name's outputs, resources and template; without
// --stack-name both checks are skipped.
func (d *doctor) checkStack(ctx context.Context) []Check {
	if d.f.stack == "" {
		why := "no --stack-name: names from the TH_* variables and flags"
		return []Check{{Name: "stack outputs", Status: statusSkipped, Detail: why}, {Name: "stack resources", Status: statusSkipped, Detail: why}}
	}
	out, err := d.c.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(d.f.stack)})
	if err != nil || len(out.Stacks) == 0 {
		if err == nil {
			err = fmt.Errorf("no stack %s", d.f.stack)
		}
		c := errCheck("stack outputs", "cloudformation:DescribeStacks "+d.f.stack, err, "check --stack-name and --region: aws cloudformation describe-stacks --stack-name "+d.f.stack)
		return []Check{c, {Name: "stack resources", Status: statusSkipped, Detail: "no stack"}}
	}
	return []Check{d.stackOutputs(out.Stacks[0]), d.stackResources(ctx)}
}

// stackOutputs checks the stack's status and outputs and takes the names
// the flags did not give from them.
func (d *doctor) stackOutputs(s cfntypes.Stack) Check {
	c := Check{Name: "stack outputs"}
	outs := map[string]string{}
	for _, o := range s.Outputs {
		outs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	set := func(dst *string, key string) {
		if *dst == "" {
			*dst = outs[key]
		}
	}
	set(&d.t.machine, "StateMachineArn")
	set(&d.t.bus, "EventBusName")
	set(&d.t.table, "TableName")
	set(&d.t.dlqURL, "DeadLetterQueueUrl")
	d.limiterFromOutputs(outs)
	var missing []string
	for _, k := range requiredOutputs {
		if outs[k] == "" {
			missing = append(missing, k)
		}
	}
	status := string(s.StackStatus)
	switch {
	case !strings.HasSuffix(status, "_COMPLETE") || strings.HasPrefix(status, "DELETE") || status == "ROLLBACK_COMPLETE":
		c.Status, c.Detail = statusFail, fmt.Sprintf("stack %s is %s", d.f.stack, status)
		c.Fix = "wait for the stack operation to end, or fix its failure (aws cloudformation describe-stack-events) and deploy again (make deploy)"
	case len(missing) > 0:
		c.Status, c.Detail = statusFail, fmt.Sprintf("stack %s lacks the outputs %s", d.f.stack, strings.Join(missing, ", "))
		c.Fix = "deploy this version of the stack (make deploy), which exports them"
	default:
		c.Status, c.Detail = statusPass, fmt.Sprintf("%s %s; %d outputs", d.f.stack, status, len(outs))
	}
	return c
}

// stackResources checks every resource is in place and learns the
// functions, the relaunch queue and the results bucket from them, and the
// roles and task definitions from the template.
func (d *doctor) stackResources(ctx context.Context) Check {
	c := Check{Name: "stack resources"}
	p := cloudformation.NewListStackResourcesPaginator(d.c.cfn, &cloudformation.ListStackResourcesInput{StackName: aws.String(d.f.stack)})
	var bad []string
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return errCheck(c.Name, "cloudformation:ListStackResources", err, "")
		}
		for _, r := range page.StackResourceSummaries {
			n++
			status := string(r.ResourceStatus)
			if strings.Contains(status, "FAILED") || strings.HasPrefix(status, "DELETE") {
				bad = append(bad, aws.ToString(r.LogicalResourceId)+" "+status)
			}
			d.learnResource(aws.ToString(r.ResourceType), aws.ToString(r.LogicalResourceId), aws.ToString(r.PhysicalResourceId))
		}
	}
	if err := d.learnTemplate(ctx); err != nil {
		return errCheck(c.Name, "cloudformation:GetTemplate", err, "")
	}
	if len(bad) > 0 {
		c.Status, c.Detail = statusFail, fmt.Sprintf("%d of %d resources not in place: %s", len(bad), n, strings.Join(bad, "; "))
		c.Fix = "see aws cloudformation describe-stack-events --stack-name " + d.f.stack + ", fix the cause and deploy again (make deploy)"
		return c
	}
	c.Status, c.Detail = statusPass, fmt.Sprintf("%d resources in place, %d functions", n, len(d.t.functions))
	return c
}

// learnResource takes a function (its construct ID from
// infra/cdk/settings.Functions), the relaunch queue or the results bucket
// from one stack resource.
func (d *doctor) learnResource(typ, logical, physical string) {
	switch typ {
	case "AWS::Lambda::Function":
		for _, f := range settings.Functions {
			if strings.Contains(logical, f.ID+"Function") {
				d.t.functions[f.Name] = physical
			}
		}
	case "AWS::SQS::Queue":
		if strings.Contains(logical, "RelaunchQueue") && d.t.relaunchURL == "" {
			d.t.relaunchURL = physical
		}
	case "AWS::S3::Bucket":
		if strings.Contains(logical, "ResultsBucket") && d.t.bucket == "" {
			d.t.bucket = physical
		}
	}
}

// learnTemplate reads, from the deployed template's policies, the roles
// the stack may pass (iam:PassRole) and the task definitions it may run
// (ecs:RunTask), unless the flags named them, and whether it launches EC2.
func (d *doctor) learnTemplate(ctx context.Context) error {
	out, err := d.c.cfn.GetTemplate(ctx, &cloudformation.GetTemplateInput{StackName: aws.String(d.f.stack), TemplateStage: cfntypes.TemplateStageProcessed})
	if err != nil {
		return err
	}
	var tmpl any
	if err := json.Unmarshal([]byte(aws.ToString(out.TemplateBody)), &tmpl); err != nil {
		return fmt.Errorf("template of %s is not JSON: %w", d.f.stack, err)
	}
	roles, defs, ec2 := policyResources(tmpl)
	if d.f.taskRoles == "" {
		d.t.roles = roles
	}
	if d.f.taskDefs == "" {
		d.t.taskDefs = defs
	}
	d.t.ec2, d.t.ecs, d.t.template = ec2, len(defs) > 0, true
	return nil
}

// policyResources walks a template for policy statements: the role names
// of iam:PassRole resources, the task definitions of ecs:RunTask
// resources, and whether any statement allows ec2:RunInstances. ARNs the
// template builds with Fn::Join are read from their literal parts.
func policyResources(v any) (roles, taskDefs []string, ec2 bool) {
	var walk func(any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			if actions := stringsOf(t["Action"]); len(actions) > 0 && t["Resource"] != nil {
				for _, res := range resourceStrings(t["Resource"]) {
					roles = appendAfter(roles, actions, "iam:PassRole", res, ":role/")
					taskDefs = appendAfter(taskDefs, actions, "ecs:RunTask", res, ":task-definition/")
				}
				ec2 = ec2 || slices.Contains(actions, "ec2:RunInstances")
			}
			for _, e := range t {
				walk(e)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	return roles, taskDefs, ec2
}

// appendAfter appends what follows marker in res (its last path segment
// for a role) when actions holds action and it is new.
func appendAfter(list, actions []string, action, res, marker string) []string {
	i := strings.Index(res, marker)
	if !slices.Contains(actions, action) || i < 0 {
		return list
	}
	v := res[i+len(marker):]
	if marker == ":role/" {
		v = v[strings.LastIndex(v, "/")+1:]
	}
	wildRole := marker == ":role/" && strings.Contains(v, "*") // no role to look up
	if v == "" || wildRole || slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// stringsOf reads an Action: a string or a list of strings.
func stringsOf(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// resourceStrings reads a Resource: strings, lists, and Fn::Join
// expressions flattened to their literal parts.
func resourceStrings(v any) []string {
	switch t := v.(type) {
	case string:
		s, _ := url.PathUnescape(t)
		return []string{s}
	case []any:
		var out []string
		for _, e := range t {
			out = append(out, resourceStrings(e)...)
		}
		return out
	case map[string]any:
		join, ok := t["Fn::Join"].([]any)
		if !ok || len(join) != 2 {
			return nil
		}
		parts, _ := join[1].([]any)
		var b strings.Builder
		for _, p := range parts {
			if s, ok := p.(string); ok {
				b.WriteString(s)
			}
		}
		return []string{b.String()}
	}
	return nil
}
