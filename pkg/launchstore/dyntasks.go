package launchstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// errTODO marks the DynamoDB side of the jobs items, being written.
var errTODO = errors.New("launchstore: not implemented yet")

func (st *DynamoDB) PutItems(ctx context.Context, requestID string, first int, items []json.RawMessage) error {
	return errTODO
}
func (st *DynamoDB) Item(ctx context.Context, requestID string, index int) (json.RawMessage, error) {
	return nil, errTODO
}
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
func (st *DynamoDB) NoteTaskStopped(ctx context.Context, requestID string) error { return errTODO }
func (st *DynamoDB) ClaimQuotaProbe(ctx context.Context, requestID string, now time.Time, every time.Duration) (bool, error) {
	return false, errTODO
}
func (st *DynamoDB) QuotaGate(ctx context.Context, requestID string) (launch.QuotaGate, error) {
	return launch.QuotaGate{}, errTODO
}
func (st *DynamoDB) SetQuotaWait(ctx context.Context, requestID string, chunk int, since time.Time) error {
	return errTODO
}
