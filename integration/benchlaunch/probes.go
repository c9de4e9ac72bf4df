package benchlaunch

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// quotaProbes reads the request's quota gate: nil when the store has none
// (no unit waited for quota) or cannot say.
func quotaProbes(stack *awslocal.Stack, requestID string) *int {
	svc := stack.LocalServices()
	if svc == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := aws.Config{Region: stack.Region, BaseEndpoint: aws.String(stack.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")}
	store := launchstore.NewDynamoDB(dynamodb.NewFromConfig(cfg), svc.Config.Table)
	g, err := store.QuotaGate(ctx, requestID)
	if err != nil {
		return nil
	}
	return &g.Probes
}
