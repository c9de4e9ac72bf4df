package failure

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// BenchmarkClassify measures one classification per documented shape:
// go test ./pkg/failure -run '^$' -bench Classify -benchmem
func BenchmarkClassify(b *testing.B) {
	_, payloads := loadShapes(b)
	for _, name := range []string{
		"states-lambda-throttled-error.json",
		"states-ecs-throttled.json",
		"states-lambda-operation-error.json",
		"runtask-response-mixed.json",
		"event-ecs-operation-throttled.json",
		"event-task-ecr-throttled.json",
		"body-ec2-free-addresses.json",
		"unparseable-truncated.json",
	} {
		payload := payloads[name]
		if payload == nil {
			b.Fatalf("no testdata/shapes/%s", name)
		}
		b.Run(strings.TrimSuffix(filepath.Base(name), ".json"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Classify(payload)
			}
		})
	}
}

func BenchmarkClassifyError(b *testing.B) {
	err := &retry.MaxAttemptsError{Attempt: 3, Err: &smithy.OperationError{ServiceID: "ECS", OperationName: "RunTask",
		Err: &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}}}
	b.ReportAllocs()
	for b.Loop() {
		ClassifyError(err)
	}
}

func BenchmarkClassifyParallel(b *testing.B) {
	_, payloads := loadShapes(b)
	payload := payloads["states-ecs-invalidparameter-throttle.json"]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			Classify(payload)
		}
	})
}
