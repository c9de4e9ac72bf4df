package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// envResultsBucket is the summary function's results bucket variable.
const envResultsBucket = config.EnvResultsBucket

// ResultsExpirationDays is how long a request's results object is kept;
// its task records stay in the table.
const ResultsExpirationDays = 30

// resultsPrefix is where the summary writes (handler.ResultsKey).
const resultsPrefix = "results/"

// addResultsBucket makes the bucket the summary writes each request's
// results to (a JSON Lines object): private, encrypted, TLS only, objects
// expiring after ResultsExpirationDays.
func (p *parts) addResultsBucket() {
	p.results = awss3.NewBucket(p.scope, jsii.String("ResultsBucket"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("ExpireResults"),
			Expiration:                          awscdk.Duration_Days(jsii.Number(ResultsExpirationDays)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
		// Like the table: the product's record outlives the stack.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
}

// grantJobs gives the jobs paths what they call: summary writes results
// objects and, through the tracker's sweep, describes the request's
// tasks whose events are overdue and stops those past their timeout; plan
// reads ecs.itemsFrom objects from the configured items buckets only.
func (p *parts) grantJobs() {
	summary := p.functions["summary"]
	summary.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteResults"),
		Actions:   jsii.Strings("s3:PutObject"),
		Resources: &[]*string{p.results.ArnForObjects(jsii.String(resultsPrefix + "*"))},
	}))
	s := p.settings
	if len(s.Clusters) > 0 {
		var clusters, tasks []*string
		for _, c := range s.Clusters {
			clusters = append(clusters, p.clusterARN(c))
			tasks = append(tasks, p.clusterTasksARN(c))
		}
		summary.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("SweepLaunchedTasks"),
			Actions:    jsii.Strings("ecs:DescribeTasks", "ecs:StopTask"),
			Resources:  &tasks,
			Conditions: &map[string]any{"ArnEquals": map[string]any{"ecs:cluster": clusters}},
		}))
	}
	// The tracker hands a described stop that needs a replacement to the
	// relaunch queue; both tracking functions name a task's awslogs stream
	// from its task definition, and the sweep follows instances to
	// ec2.waitFor. Neither describe action has resource-level permissions.
	p.relaunch.GrantSendMessages(summary)
	for _, name := range []string{"summary", "retry"} {
		actions := []string{"ecs:DescribeTaskDefinition"}
		if name == "summary" && len(s.LaunchTemplates) > 0 {
			actions = append(actions, "ec2:DescribeInstanceStatus")
		}
		p.functions[name].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("DescribeForTracking"),
			Actions:   jsii.Strings(actions...),
			Resources: jsii.Strings("*"),
		}))
	}
	if len(s.ItemsBuckets) > 0 {
		var objects []*string
		for _, b := range s.ItemsBuckets {
			objects = append(objects, jsii.String("arn:"+*p.stack.Partition()+":s3:::"+b+"/*"))
		}
		p.functions["plan"].AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ReadItemsObjects"),
			Actions:   jsii.Strings("s3:GetObject"),
			Resources: &objects,
		}))
	}
}
