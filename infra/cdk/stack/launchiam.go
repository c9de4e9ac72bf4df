package stack

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// addLaunchPermissions lets runtask launch exactly the configured work:
// RunTask of the configured task definitions in the configured clusters,
// tagging only what RunTask creates, passing only the configured roles to
// ECS tasks; RunInstances only from the configured launch templates into the
// configured subnets, tagging only what RunInstances creates, passing only
// the instance-profile roles to EC2. retry gets the same ECS statements: it
// relaunches a task that failed to start with a direct RunTask of count 1
// (pkg/launch relaunch.go); it never calls EC2.
func (p *parts) addLaunchPermissions() {
	s := p.settings
	addECS := func(props *awsiam.PolicyStatementProps) {
		for _, name := range []string{"runtask", "retry"} {
			p.functions[name].AddToRolePolicy(awsiam.NewPolicyStatement(props))
		}
	}
	add := func(props *awsiam.PolicyStatementProps) {
		p.functions["runtask"].AddToRolePolicy(awsiam.NewPolicyStatement(props))
	}
	if len(s.Clusters) > 0 {
		var clusters, tasks, taskDefs []*string
		for _, c := range s.Clusters {
			clusters = append(clusters, p.clusterARN(c))
			tasks = append(tasks, p.clusterTasksARN(c))
		}
		for _, td := range s.TaskDefinitions {
			taskDefs = append(taskDefs, p.taskDefinitionARN(td))
		}
		addECS(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("RunConfiguredTaskDefinitions"),
			Actions:    jsii.Strings("ecs:RunTask"),
			Resources:  &taskDefs,
			Conditions: &map[string]any{"ArnEquals": map[string]any{"ecs:cluster": clusters}},
		})
		addECS(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("TagTasksAtRunTask"),
			Actions:    jsii.Strings("ecs:TagResource"),
			Resources:  &tasks,
			Conditions: &map[string]any{"StringEquals": map[string]any{"ecs:CreateAction": "RunTask"}},
		})
		if len(s.TaskRoles) > 0 {
			addECS(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("PassTaskRoles"),
				Actions:    jsii.Strings("iam:PassRole"),
				Resources:  p.roleARNs(s.TaskRoles),
				Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
			})
		}
	}
	if len(s.LaunchTemplates) > 0 {
		var templates, subnets []*string
		for _, lt := range s.LaunchTemplates {
			templates = append(templates, p.ec2ARN("launch-template/"+lt, true))
		}
		for _, sn := range s.Subnets {
			subnets = append(subnets, p.ec2ARN("subnet/"+sn, true))
		}
		fromTemplate := &map[string]any{"ArnEquals": map[string]any{"ec2:LaunchTemplate": templates}}
		add(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("UseConfiguredLaunchTemplates"),
			Actions:   jsii.Strings("ec2:RunInstances"),
			Resources: &templates,
		})
		add(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("LaunchIntoConfiguredSubnets"),
			Actions:    jsii.Strings("ec2:RunInstances"),
			Resources:  &subnets,
			Conditions: fromTemplate,
		})
		// What a launch template's RunInstances creates or uses; allowed only
		// when the call goes through one of the configured templates.
		add(&awsiam.PolicyStatementProps{
			Sid:     jsii.String("CreateFromConfiguredLaunchTemplates"),
			Actions: jsii.Strings("ec2:RunInstances"),
			Resources: &[]*string{
				p.ec2ARN("instance/*", true), p.ec2ARN("volume/*", true), p.ec2ARN("network-interface/*", true),
				p.ec2ARN("security-group/*", true), p.ec2ARN("key-pair/*", true),
				p.ec2ARN("spot-instances-request/*", true), p.ec2ARN("image/*", false),
			},
			Conditions: fromTemplate,
		})
		add(&awsiam.PolicyStatementProps{
			Sid:     jsii.String("TagAtRunInstances"),
			Actions: jsii.Strings("ec2:CreateTags"),
			Resources: &[]*string{
				p.ec2ARN("instance/*", true), p.ec2ARN("volume/*", true), p.ec2ARN("network-interface/*", true),
				p.ec2ARN("spot-instances-request/*", true),
			},
			Conditions: &map[string]any{"StringEquals": map[string]any{"ec2:CreateAction": "RunInstances"}},
		})
		if len(s.InstanceProfileRoles) > 0 {
			add(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("PassInstanceProfileRoles"),
				Actions:    jsii.Strings("iam:PassRole"),
				Resources:  p.roleARNs(s.InstanceProfileRoles),
				Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ec2.amazonaws.com"}},
			})
		}
	}
}

func (p *parts) clusterARN(c string) *string {
	if strings.HasPrefix(c, "arn:") {
		return jsii.String(c)
	}
	return p.stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("ecs"), Resource: jsii.String("cluster"), ResourceName: jsii.String(c)})
}

// clusterTasksARN covers the tasks of cluster c: arn:…:task/<cluster>/*
// (task IDs are unknown until RunTask returns).
func (p *parts) clusterTasksARN(c string) *string {
	if strings.HasPrefix(c, "arn:") {
		return jsii.String(strings.Replace(c, ":cluster/", ":task/", 1) + "/*")
	}
	return p.stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("ecs"), Resource: jsii.String("task"), ResourceName: jsii.String(c + "/*")})
}

// taskDefinitionARN: an ARN as is; "family:3" in this stack's account and
// region; a bare "family" means every revision of it.
func (p *parts) taskDefinitionARN(td string) *string {
	if strings.HasPrefix(td, "arn:") {
		return jsii.String(td)
	}
	if !strings.Contains(td, ":") {
		td += ":*"
	}
	return p.stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("ecs"), Resource: jsii.String("task-definition"), ResourceName: jsii.String(td)})
}

func (p *parts) roleARNs(roles []string) *[]*string {
	var out []*string
	for _, r := range roles {
		if strings.HasPrefix(r, "arn:") {
			out = append(out, jsii.String(r))
			continue
		}
		out = append(out, p.stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("iam"), Region: jsii.String(""), Resource: jsii.String("role"), ResourceName: jsii.String(r),
		}))
	}
	return &out
}

// ec2ARN is arn:<partition>:ec2:<region>:<account>:<resource>; AMIs have no
// account in their ARN.
func (p *parts) ec2ARN(resource string, withAccount bool) *string {
	c := &awscdk.ArnComponents{Service: jsii.String("ec2"), Resource: jsii.String(resource), ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME}
	if !withAccount {
		c.Account = jsii.String("")
	}
	return p.stack.FormatArn(c)
}
