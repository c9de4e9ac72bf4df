package stack

import (
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// addNagSuppressions records, with a reason each, the cdk-nag AwsSolutions
// findings this stack accepts; each is scoped to one construct and, for
// IAM5, to the exact resource patterns (appliesTo), so a new wildcard
// elsewhere still fails. No suppression covers an action wildcard: there is
// none.
func addNagSuppressions(p *parts) {
	for _, q := range []any{p.dlq, p.targetDLQ, p.relaunchDLQ} {
		suppress(q, "AwsSolutions-SQS3",
			"This queue is itself a dead-letter queue (the product's give-up queue, the EventBridge targets' and async invokes' undeliverable events, or the relaunch queue's poisoned relaunches); nothing consumes it automatically, so it needs no DLQ of its own.")
	}

	runtask := p.functions["runtask"].Role()
	for _, name := range []string{"runtask", "retry"} {
		role := p.functions[name].Role()
		suppress(role, "AwsSolutions-IAM5",
			"A task definition configured as a bare family means every revision of that family (family:*); the family itself is fixed by configuration.",
			`/^Resource::arn:.+:ecs:.+:task-definition\/[A-Za-z0-9_-]+:\*$/`)
		suppress(role, "AwsSolutions-IAM5",
			"ecs:TagResource on the tasks of the configured clusters only (task IDs exist only after RunTask), and only with the condition ecs:CreateAction = RunTask.",
			`/^Resource::arn:.+:ecs:.+:task\/[A-Za-z0-9_-]+\/\*$/`)
	}
	suppress(runtask, "AwsSolutions-IAM5",
		"RunInstances creates instances, volumes and network interfaces whose IDs do not exist yet, and uses the AMI, security groups and key pair named in the launch template; every such statement requires ec2:LaunchTemplate to be one of the configured templates, and CreateTags requires ec2:CreateAction = RunInstances.",
		`/^Resource::arn:.+:ec2:.+:(instance|volume|network-interface|security-group|key-pair|spot-instances-request|image)\/\*$/`)

	addJobsSuppressions(p)
	suppress(p.functions["submit"].Role(), "AwsSolutions-IAM5",
		"Execution names are derived from request IDs at run time; the pattern is limited to the executions of the launch state machine.",
		`/^Resource::arn:.+:states:.+:execution:`+*p.machineNames[EntryMachine]+`:\*$/`)
	suppress(p.functions["submit"].Role(), "AwsSolutions-IAM5",
		"states:SendTaskFailure answers the task token of a request submit refuses for good; a task token is not an IAM resource, so the action takes Resource * only (the token itself is the authorization to answer).",
		`/^Resource::\*$/`)
	suppress(p.functions["plan"].Role(), "AwsSolutions-IAM5",
		"plan describes the execution holding its request id, whose name is derived from a request ID at run time; the pattern is limited to the executions of the launch state machine.",
		`/^Resource::arn:.+:states:.+:execution:`+*p.machineNames[EntryMachine]+`:\*$/`)
	for _, m := range p.machineFiles {
		role := p.machines[m.Stem].Role()
		suppress(role, "AwsSolutions-IAM5",
			"X-Ray (PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) and CloudWatch Logs log delivery (CreateLogDelivery, …, DescribeLogGroups) do not support resource-level permissions; CDK adds exactly these actions for TracingEnabled and Logs.",
			`/^Resource::\*$/`)
		if m.Distributed {
			suppress(role, "AwsSolutions-IAM5",
				"Child executions of this machine's DISTRIBUTED Map are named by Step Functions at run time; the pattern is limited to executions of this machine.",
				`/^Resource::arn:.+:states:.+:execution:`+*p.machineNames[m.Stem]+`\/\*$/`)
		}
		for _, child := range m.Machines {
			if m.SyncChildren {
				suppress(role, "AwsSolutions-IAM5",
					"A .sync startExecution watches the child executions it starts, whose names are chosen at run time; the pattern is limited to executions of the companion machine.",
					`/^Resource::arn:.+:states:.+:execution:`+*p.machineNames[child]+`:\*$/`)
			}
		}
	}
}

// resultsObjectsPattern is the cdk-nag form of the results objects' ARN
// pattern (the bucket's logical ID carries the construct's path).
const resultsObjectsPattern = `/^Resource::<[A-Za-z0-9]*ResultsBucket[A-Za-z0-9]+\.Arn>\/results\/\*$/`

// suppress records one accepted finding on construct (and its children),
// for IAM5 limited to the resource patterns appliesTo.
func suppress(construct any, id, reason string, appliesTo ...string) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		var at []any
		for _, re := range appliesTo {
			at = append(at, &cdknag.RegexAppliesTo{Regex: jsii.String(re)})
		}
		s.AppliesTo = &at
	}
	cdknag.NagSuppressions_AddResourceSuppressions(construct, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}

// addJobsSuppressions: the results bucket and the jobs grants (results.go).
func addJobsSuppressions(p *parts) {
	suppress(p.results, "AwsSolutions-S1",
		"The results bucket holds only objects the summary function writes, one per request, expiring after 30 days; who wrote them is known, and reads can be audited with CloudTrail data events where required, so no server access log bucket is kept.")
	summary := p.functions["summary"].Role()
	suppress(summary, "AwsSolutions-IAM5",
		"The summary writes one results object per request, named by its request ID at run time, under the results/ prefix of the stack's own results bucket only.",
		resultsObjectsPattern)
	suppress(summary, "AwsSolutions-IAM5",
		"The tracker's sweep describes and stops the request's own tasks, whose IDs exist only after RunTask, on the tasks of the configured clusters only, with the condition ecs:cluster among them.",
		`/^Resource::arn:.+:ecs:.+:task\/[A-Za-z0-9_-]+\/\*$/`)
	// One suppression of Resource::* per role, naming every statement it
	// covers: cdk-nag reads the first suppression that matches.
	tracking := "ecs:DescribeTaskDefinition and ec2:DescribeInstanceStatus are read-only and support no resource-level permissions: a task's log stream comes from its task definition, an instance's status checks from DescribeInstanceStatus."
	callbacks := "states:SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat answer the task token a request carries; a task token is not an IAM resource, so these actions take Resource * only (the token itself is the authorization to answer)."
	for name, reason := range map[string]string{"summary": tracking + " " + callbacks, "retry": tracking + " " + callbacks, "plan": callbacks} {
		suppress(p.functions[name].Role(), "AwsSolutions-IAM5", reason, `/^Resource::\*$/`)
	}
	suppress(p.functions["plan"].Role(), "AwsSolutions-IAM5",
		"ecs.itemsFrom names an object chosen by the request; plan may read (s3:GetObject only) the objects of the buckets configured as itemsBuckets and no other.",
		`/^Resource::arn:<AWS::Partition>:s3:::[a-z0-9.-]+\/\*$/`)
}
