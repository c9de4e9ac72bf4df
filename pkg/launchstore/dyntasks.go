package launchstore

import (
	"context"
	"errors"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// errTODO marks the DynamoDB side of the task records, being written.
var errTODO = errors.New("launchstore: not implemented yet")

func (st *DynamoDB) RecordTasks(ctx context.Context, requestID string, refs []launch.TaskRef) error {
	return errTODO
}
func (st *DynamoDB) ObserveTask(ctx context.Context, requestID string, o launch.TaskObservation) (launch.TaskRecord, bool, error) {
	return launch.TaskRecord{}, false, errTODO
}
func (st *DynamoDB) DecideTask(ctx context.Context, requestID, arn, outcome, why string) (launch.TaskRecord, bool, error) {
	return launch.TaskRecord{}, false, errTODO
}
func (st *DynamoDB) Task(ctx context.Context, requestID, arn string) (launch.TaskRecord, error) {
	return launch.TaskRecord{}, errTODO
}
func (st *DynamoDB) Tasks(ctx context.Context, requestID string) ([]launch.TaskRecord, error) {
	return nil, errTODO
}
