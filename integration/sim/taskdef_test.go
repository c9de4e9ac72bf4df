package sim_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// TestTaskDefinitionAWSLogsFidelity follows Amazon ECS Developer Guide:
// "Send Amazon ECS logs to CloudWatch": a container logging with the
// awslogs driver names its group and stream prefix in its
// logConfiguration options; Config.NoAWSLogs leaves it out.
func TestTaskDefinitionAWSLogsFidelity(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		cfg    sim.Config
		prefix string
	}{
		"awslogs by default": {sim.Config{}, sim.AWSLogsStreamPrefix},
		"turned off":         {sim.Config{NoAWSLogs: true}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.cfg)
			out, err := e.ecs.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("job:3")})
			if err != nil {
				t.Fatal(err)
			}
			c := out.TaskDefinition.ContainerDefinitions[0]
			lc := c.LogConfiguration
			if tc.prefix == "" {
				if lc != nil {
					t.Fatalf("log configuration %+v, want none", lc)
				}
				return
			}
			if lc == nil || lc.LogDriver != "awslogs" || lc.Options["awslogs-stream-prefix"] != tc.prefix || lc.Options["awslogs-group"] != "/ecs/job" || !aws.ToBool(c.Essential) {
				t.Fatalf("container %s: log configuration %+v", aws.ToString(c.Name), lc)
			}
		})
	}
}
