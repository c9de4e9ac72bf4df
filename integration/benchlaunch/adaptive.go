package benchlaunch

import (
	"context"
	"encoding/json"
	"fmt"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// adaptiveFunction is the sdk-adaptive baseline's Lambda function name
// (${AdaptiveFunctionArn} in statemachines/baselines/sdk-adaptive.asl.json).
const adaptiveFunction = "adaptive"

// item is one Map item of the baselines: one RunTask call's worth of work.
type item struct {
	Cluster        string   `json:"cluster"`
	TaskDefinition string   `json:"taskDefinition"`
	Count          int      `json:"count"`
	StartedBy      string   `json:"startedBy"`
	Subnets        []string `json:"subnets"`
}

// adaptiveHandler is what a user writes with the SDK's best client-side
// answer: RunTask through a client in adaptive retry mode (a token bucket
// per client that slows down after a throttle and grows back), built once
// per Lambda instance, so every warm sandbox limits only itself.
type adaptiveHandler struct {
	ecs *ecs.Client
}

func newAdaptiveHandler(cfg aws.Config) awslambda.Handler {
	c := ecs.NewFromConfig(cfg, func(o *ecs.Options) {
		o.Retryer = retry.NewAdaptiveMode()
	})
	return awslambda.NewHandler(adaptiveHandler{ecs: c}.Handle)
}

// Handle launches one item. The SDK's own attempts (3, with its adaptive
// waits) happen inside; what still fails is returned, for the state
// machine's Retry and Catch.
func (h adaptiveHandler) Handle(ctx context.Context, in item) (map[string]int, error) {
	out, err := h.ecs.RunTask(ctx, &ecs.RunTaskInput{
		Cluster: aws.String(in.Cluster), TaskDefinition: aws.String(in.TaskDefinition), Count: aws.Int32(int32(in.Count)),
		LaunchType: ecstypes.LaunchTypeFargate, StartedBy: aws.String(in.StartedBy),
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: in.Subnets}},
	})
	if err != nil {
		return nil, err
	}
	return map[string]int{"launched": len(out.Tasks), "failures": len(out.Failures)}, nil
}

// baselineInput is the baselines' execution input: one item per RunTask
// call of ChunkSizeECS tasks, tagged like the product's tasks so that the
// simulator's ledger counts them per chunk.
func baselineInput(s setup, hash string) (string, error) {
	spec := s.request.ECS
	if spec == nil {
		return "", fmt.Errorf("%s: baselines launch ECS tasks only", s.strategy)
	}
	items := make([]item, 0, (spec.Count+9)/10)
	for chunk, left := 0, spec.Count; left > 0; chunk++ {
		n := min(left, 10)
		left -= n
		items = append(items, item{Cluster: spec.Cluster, TaskDefinition: spec.TaskDefinition, Count: n,
			StartedBy: fmt.Sprintf("th/%s/%d/0", hash, chunk), Subnets: subnets})
	}
	b, err := json.Marshal(map[string]any{"items": items})
	return string(b), err
}
