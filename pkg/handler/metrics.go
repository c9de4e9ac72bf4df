package handler

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Metric names emitted by the handlers (CloudWatch namespace
// MetricNamespace, dimension Function).
const (
	MetricCalls          = "Calls"          // RunTask + RunInstances calls made
	MetricThrottledSync  = "ThrottledSync"  // calls answered with a throttle
	MetricThrottledAsync = "ThrottledAsync" // throttle events (service action, TaskFailedToStart)
	MetricDeferrals      = "Deferrals"      // runtask answers "deferred"
	MetricDeferSeconds   = "DeferSeconds"   // the delay of each deferral
	MetricRetries        = "Retries"        // retry decisions; also Retries.<class>
	MetricLaunched       = "Launched"       // units launched
	MetricFailed         = "Failed"         // units given up
	MetricDeadLettered   = "DeadLettered"   // units sent to the DLQ
	MetricRelaunched     = "Relaunched"     // tasks relaunched after TaskFailedToStart
	MetricLimiterBusy    = "LimiterBusy"    // reservations and re-checks answered busy: the limiter's store failed
	MetricStaleSlots     = "StaleSlots"     // slots taken again: the limiter answered too late
	MetricNamespace      = "ThrottleHandler"
)

// Recorder receives metric values. Implementations are safe for concurrent use.
type Recorder interface {
	Add(metric string, value float64, unit string)
}

// Units for Recorder.Add.
const (
	UnitCount   = "Count"
	UnitSeconds = "Seconds"
)

type nopRecorder struct{}

func (nopRecorder) Add(string, float64, string) {}

// EMF writes each value as one CloudWatch Embedded Metric Format line, which
// Lambda's log pipeline turns into a metric without an API call.
type EMF struct {
	mu       sync.Mutex
	w        io.Writer
	function string
	now      func() time.Time
}

// NewEMF returns a Recorder writing EMF lines to w (os.Stdout in Lambda)
// with the dimension Function = function.
func NewEMF(w io.Writer, function string, now func() time.Time) *EMF {
	return &EMF{w: w, function: function, now: now}
}

// Add writes one EMF line for metric.
func (e *EMF) Add(metric string, value float64, unit string) {
	doc := map[string]any{
		"_aws": map[string]any{
			"Timestamp": e.now().UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  MetricNamespace,
				"Dimensions": [][]string{{"Function"}},
				"Metrics":    []any{map[string]string{"Name": metric, "Unit": unit}},
			}},
		},
		"Function": e.function,
		metric:     value,
	}
	b, _ := json.Marshal(doc)
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(append(b, '\n'))
}
