package sim_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

func TestRunTaskClientToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{})
	ctx := context.Background()
	in := func(count int32) *ecs.RunTaskInput {
		r := runTaskEC2("th/0123456789ab/4/0")
		r.Count = aws.Int32(count)
		r.ClientToken = aws.String("req-1/4/0")
		return r
	}
	first, err := e.ecs.RunTask(ctx, in(3))
	if err != nil {
		t.Fatal(err)
	}
	replay, err := e.ecs.RunTask(ctx, in(3))
	if err != nil {
		t.Fatal(err)
	}
	arns := func(ts []ecstypes.Task) []string {
		var out []string
		for _, t := range ts {
			out = append(out, *t.TaskArn)
		}
		return out
	}
	if got, want := arns(replay.Tasks), arns(first.Tasks); !slices.Equal(got, want) {
		t.Fatalf("replay: got tasks %v, want the original %v", got, want)
	}
	if n := len(e.sim.Ledger().Entries()); n != 3 {
		t.Fatalf("ledger after a replay: got %d tasks, want 3", n)
	}
	// The same token in another cluster is a new request.
	other := in(3)
	other.Cluster = aws.String("other")
	if _, err := e.ecs.RunTask(ctx, other); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sim.Ledger().Entries()); n != 6 {
		t.Fatalf("ledger after the same token in another cluster: got %d tasks, want 6", n)
	}
	_, err = e.ecs.RunTask(ctx, in(2))
	var ce *ecstypes.ConflictException
	if !errors.As(err, &ce) {
		t.Fatalf("different parameters: got %v, want ConflictException", err)
	}
	if !slices.Equal(ce.ResourceIds, arns(first.Tasks)) {
		t.Fatalf("ConflictException.ResourceIds: got %v, want %v", ce.ResourceIds, arns(first.Tasks))
	}
	c := sim.Count(e.sim.Ledger().For("0123456789ab"), func(string, int) int { return 3 })
	if c.Launched != 6 || c.Duplicates != 3 {
		t.Fatalf("counts: got %+v, want 6 launched and 3 duplicates (the other cluster's launch)", c)
	}
}

func TestRunInstancesClientToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{})
	ctx := context.Background()
	in := func(typ ec2types.InstanceType) *ec2.RunInstancesInput {
		return &ec2.RunInstancesInput{MinCount: aws.Int32(2), MaxCount: aws.Int32(2), ImageId: aws.String("ami-1"),
			InstanceType: typ, ClientToken: aws.String("req-1/0/0"), SubnetId: aws.String("subnet-a"),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{
				{Key: aws.String(sim.TagStartedBy), Value: aws.String("th/0123456789ab/0/0")},
				{Key: aws.String(sim.TagRequestID), Value: aws.String("req-1")}}}}}
	}
	first, err := e.ec2.RunInstances(ctx, in("c7g.large"))
	if err != nil {
		t.Fatal(err)
	}
	replay, err := e.ec2.RunInstances(ctx, in("c7g.large"))
	if err != nil {
		t.Fatal(err)
	}
	if *replay.ReservationId != *first.ReservationId || *replay.Instances[1].InstanceId != *first.Instances[1].InstanceId {
		t.Fatalf("replay: got %s/%s, want the original reservation %s", *replay.ReservationId, *replay.Instances[1].InstanceId, *first.ReservationId)
	}
	_, err = e.ec2.RunInstances(ctx, in("c6g.large"))
	if got := code(err); got != "IdempotentParameterMismatch" {
		t.Fatalf("different parameters: got %s, want IdempotentParameterMismatch", got)
	}
	entries := e.sim.Ledger().For("req-1")
	if len(entries) != 2 || entries[0].RequestHash != "0123456789ab" || entries[0].Chunk != 0 {
		t.Fatalf("ledger: got %+v, want 2 instances of request hash 0123456789ab chunk 0", entries)
	}
}
