package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

func TestDescribeListStopTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{})
	ctx := context.Background()
	var arns []string
	for i := 0; i < 3; i++ {
		in := runTaskEC2("th/0123456789ab/1/0")
		in.Count = aws.Int32(2)
		in.Tags = []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("batch")}}
		out, err := e.ecs.RunTask(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range out.Tasks {
			arns = append(arns, *tk.TaskArn)
		}
	}
	if _, err := e.ecs.RunTask(ctx, runTaskEC2("someone-else")); err != nil {
		t.Fatal(err)
	}
	d, err := e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("jobs"), Tasks: []string{arns[0], "arn:aws:ecs:us-east-1:000000000000:task/jobs/nope"}, Include: []ecstypes.TaskField{ecstypes.TaskFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Tasks) != 1 || len(d.Failures) != 1 || *d.Failures[0].Reason != "MISSING" {
		t.Fatalf("describe: got %d tasks, failures %+v; want 1 task and one MISSING", len(d.Tasks), d.Failures)
	}
	tk := d.Tasks[0]
	if *tk.LastStatus != "PENDING" || *tk.StartedBy != "th/0123456789ab/1/0" || len(tk.Tags) != 1 || tk.CreatedAt == nil || !tk.CreatedAt.Equal(t0) {
		t.Fatalf("describe: got status %s startedBy %s tags %v createdAt %v", *tk.LastStatus, *tk.StartedBy, tk.Tags, tk.CreatedAt)
	}
	e.settle(t, 30*time.Second)
	d, _ = e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("jobs"), Tasks: []string{arns[0]}})
	if *d.Tasks[0].LastStatus != "RUNNING" || d.Tasks[0].StartedAt == nil || len(d.Tasks[0].Tags) != 0 {
		t.Fatalf("after 30 s: got %s (startedAt %v, tags %v), want RUNNING without tags", *d.Tasks[0].LastStatus, d.Tasks[0].StartedAt, d.Tasks[0].Tags)
	}

	// ListTasks pages through our six tasks, filtered by startedBy.
	var listed []string
	var token *string
	for {
		l, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("jobs"), StartedBy: aws.String("th/0123456789ab/1/0"), MaxResults: aws.Int32(4), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, l.TaskArns...)
		if token = l.NextToken; token == nil {
			break
		}
	}
	if len(listed) != 6 {
		t.Fatalf("ListTasks: got %d tasks, want 6", len(listed))
	}

	st, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("jobs"), Task: aws.String(arns[1]), Reason: aws.String("done")})
	if err != nil {
		t.Fatal(err)
	}
	if *st.Task.DesiredStatus != "STOPPED" || st.Task.StopCode != ecstypes.TaskStopCodeUserInitiated {
		t.Fatalf("StopTask: got desired %s stopCode %s", *st.Task.DesiredStatus, st.Task.StopCode)
	}
	e.settle(t, 30*time.Second)
	d, _ = e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("jobs"), Tasks: []string{arns[1]}})
	if *d.Tasks[0].LastStatus != "STOPPED" || *d.Tasks[0].StoppedReason != "done" || d.Tasks[0].StoppedAt == nil {
		t.Fatalf("after stop: got %s %q", *d.Tasks[0].LastStatus, aws.ToString(d.Tasks[0].StoppedReason))
	}
	l, _ := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("jobs"), DesiredStatus: ecstypes.DesiredStatusStopped})
	if len(l.TaskArns) != 1 || l.TaskArns[0] != arns[1] {
		t.Fatalf("ListTasks STOPPED: got %v", l.TaskArns)
	}
	if _, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("jobs"), Task: aws.String("nope")}); code(err) != "InvalidParameterException" {
		t.Fatalf("StopTask of an unknown task: got %v", err)
	}
}

func TestDescribeTerminateTagInstances(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{})
	ctx := context.Background()
	var ids []string
	for _, req := range []string{"req-1", "req-1", "req-2"} {
		out, err := e.ec2.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(2), MaxCount: aws.Int32(2), ImageId: aws.String("ami-1"),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
				Tags: []ec2types.Tag{{Key: aws.String(sim.TagRequestID), Value: aws.String(req)}}}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range out.Instances {
			ids = append(ids, *in.InstanceId)
		}
	}
	count := func(in *ec2.DescribeInstancesInput) int {
		t.Helper()
		n := 0
		p := ec2.NewDescribeInstancesPaginator(e.ec2, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Reservations {
				n += len(r.Instances)
			}
		}
		return n
	}
	byReq := &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), Filters: []ec2types.Filter{{Name: aws.String("tag:" + sim.TagRequestID), Values: []string{"req-1"}}}}
	if n := count(byReq); n != 4 {
		t.Fatalf("by tag: got %d, want 4", n)
	}
	if _, err := e.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids[:2]}); err != nil {
		t.Fatal(err)
	}
	if n := count(&ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}}}); n != 4 {
		t.Fatalf("live after terminating two: got %d, want 4", n)
	}
	if _, err := e.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids[5:], Tags: []ec2types.Tag{{Key: aws.String("stage"), Value: aws.String("x")}}}); err != nil {
		t.Fatal(err)
	}
	if n := count(&ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{"stage"}}}}); n != 1 {
		t.Fatalf("after CreateTags: got %d, want 1", n)
	}
	if _, err := e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000000000f"}}); code(err) != "InvalidInstanceID.NotFound" {
		t.Fatalf("unknown instance: got %v", err)
	}
	e.settle(t, time.Minute)
	out, _ := e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{ids[0], ids[2]}})
	states := []ec2types.InstanceStateName{}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			states = append(states, in.State.Name)
		}
	}
	if len(states) != 2 || states[0] != "terminated" || states[1] != "running" {
		t.Fatalf("states after a minute: got %v, want [terminated running]", states)
	}
}
