package handler

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// S3API is the part of the S3 client the jobs paths use: plan reads an
// ecs.itemsFrom object, summary writes a request's results object;
// *s3.Client satisfies it.
type S3API interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var _ S3API = (*s3.Client)(nil)

// Sweeper looks after a waiting request's tasks between events: it
// describes the tasks whose events are overdue and stops the attempts past
// their timeout. The summary's waiting check calls it on each loop.
type Sweeper interface {
	Sweep(ctx context.Context, sr launch.StoredRequest) (SweepReport, error)
}

// SweepReport is what one Sweep did.
type SweepReport struct {
	// Described counts the tasks asked of DescribeTasks, Observed the
	// observations that moved a task forward, Stopped the StopTask calls.
	Described, Observed, Stopped int
	// NextTimeout is how long until the next running attempt reaches its
	// timeout (0: none), so the waiting check need not sleep past it.
	NextTimeout time.Duration
}
