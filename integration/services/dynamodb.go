package services

import (
	"context"
	"errors"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
)

type awsHandler = awslambda.Handler

// createTable creates the product's table; an existing one (dynalite on
// disk, restarted) is kept.
func createTable(ctx context.Context, d *testenv.Dynalite, name string) error {
	err := testenv.CreateTable(ctx, d.Client(), name)
	var inUse *ddbtypes.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	return err
}
