package stack

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// GIVEN the fully configured stack
// WHEN the results bucket and the jobs grants are read
// THEN the bucket is private, encrypted, TLS only, its objects expire;
// summary may put objects under results/ only, and describe and stop only
// the tasks of the configured clusters; plan may get only the objects of
// the configured items buckets
func TestResultsBucketAndJobsGrants(t *testing.T) {
	s := sharedStack(t)
	assert(t, func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
			"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
				map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}}}},
			"PublicAccessBlockConfiguration": map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true},
			"LifecycleConfiguration": map[string]any{"Rules": []any{map[string]any{
				"Id": "ExpireResults", "Status": "Enabled", "ExpirationInDays": float64(ResultsExpirationDays), "AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 1.0},
			}}},
		})
	})
	assert(t, func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{
					"Effect": "Deny", "Action": "s3:*", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
				}),
			})}),
		})
	})
	bucket := onlyID(t, s, "AWS::S3::Bucket")
	summary := s.roleStatements(t, "summary")
	if w := bySid(summary, "WriteResults"); w == nil || render(w["Resource"]) != "${"+bucket+".Arn}/results/*" {
		t.Errorf("WriteResults: got %v, want s3:PutObject on the results bucket's results/*", w)
	}
	sweep := bySid(summary, "SweepLaunchedTasks")
	wantTasks := arnPrefix + "ecs:" + regionAcc + "task/jobs/*,arn:aws:ecs:eu-west-1:111122223333:task/batch/*"
	if sweep == nil || render(sweep["Resource"]) != wantTasks || render(sweep["Condition"]) == "" {
		t.Errorf("SweepLaunchedTasks: got %v, want DescribeTasks/StopTask on %s with the ecs:cluster condition", sweep, wantTasks)
	}
	if r := bySid(s.roleStatements(t, "plan"), "ReadItemsObjects"); r == nil || render(r["Resource"]) != arnPrefix+"s3:::team-items/*" {
		t.Errorf("ReadItemsObjects: got %v, want s3:GetObject on team-items/* only", r)
	}
	if r := bySid(ecsCompanionStack(t).roleStatements(t, "plan"), "ReadItemsObjects"); r != nil {
		t.Errorf("without itemsBuckets plan reads %v, want nothing", r)
	}
}
