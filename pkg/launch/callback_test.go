package launch_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// TestCallbackValidInBothVersions: a callback is accepted in a version-1
// and a version-2 request, a token of exactly 2,048 characters (multi-byte
// runes count as one) included, and it does not make a request version 2.
func TestCallbackValidInBothVersions(t *testing.T) {
	t.Parallel()
	token := strings.Repeat("é", launch.MaxTaskTokenLen)
	for name, body := range map[string]string{
		"version 1":            `{"requestId":"cb-1","ecs":{"cluster":"c","taskDefinition":"td","count":1},"callback":{"taskToken":"` + token + `"}}`,
		"version 2":            `{"version":2,"requestId":"cb-2","waitForCompletion":true,"ecs":{"cluster":"c","taskDefinition":"td","count":1},"callback":{"taskToken":"t","heartbeatSeconds":60}}`,
		"heartbeat = deadline": `{"requestId":"cb-3","deadlineSeconds":120,"ecs":{"cluster":"c","taskDefinition":"td","count":1},"callback":{"taskToken":"t","heartbeatSeconds":120}}`,
	} {
		t.Run(name, func(t *testing.T) {
			r, err := launch.ParseRequest([]byte(body))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if r.Callback == nil || r.Callback.TaskToken == "" {
				t.Fatalf("callback not decoded: %+v", r.Callback)
			}
		})
	}
	r, err := launch.ParseRequest([]byte(`{"requestId":"cb-v","ecs":{"cluster":"c","taskDefinition":"td","count":1},"callback":{"taskToken":"t"}}`))
	if err != nil || r.SchemaVersion() != launch.CurrentVersion {
		t.Fatalf("a callback alone: version %d, %v; want %d", r.SchemaVersion(), err, launch.CurrentVersion)
	}
}

// TestHeartbeatInterval: a third of the caller's timer, capped by SQS's
// longest delay; none without heartbeatSeconds.
func TestHeartbeatInterval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    *launch.Callback
		want int
	}{
		{nil, 0},
		{&launch.Callback{TaskToken: "t"}, 0},
		{&launch.Callback{TaskToken: "t", HeartbeatSeconds: 60}, 20},
		{&launch.Callback{TaskToken: "t", HeartbeatSeconds: 100}, 33},
		{&launch.Callback{TaskToken: "t", HeartbeatSeconds: 7200}, launch.MaxHeartbeatInterval},
	} {
		if got := tc.c.HeartbeatInterval(); got != tc.want {
			t.Errorf("HeartbeatInterval(%+v) = %d, want %d", tc.c, got, tc.want)
		}
	}
}

// TestCallbackToken: the token is read from every shape a request reaches
// plan or submit in, valid or not; nothing else is taken for one.
func TestCallbackToken(t *testing.T) {
	t.Parallel()
	req := `{"requestId":"r","ecs":{"count":0},"callback":{"taskToken":"tok"}}`
	for raw, want := range map[string]string{
		req: "tok",
		`{"detail-type":"LaunchRequested","detail":` + req + `}`: "tok",
		`{"request":` + req + `,"executionArn":"arn"}`:           "tok",
		`{"requestId":"r","callback":{"taskToken":7}}`:           "",
		`{"requestId":"r"}`: "",
		`not json`:          "",
	} {
		if got := launch.CallbackToken(json.RawMessage(raw)); got != want {
			t.Errorf("CallbackToken(%s) = %q, want %q", raw, got, want)
		}
	}
}

type planRefusal struct{ msg string }

func (e *planRefusal) Error() string { return e.msg }

// TestFunctionError: the error name and cause Step Functions shows for a
// Go function's error — the type's name, as the runtime reports it, and
// the JSON of {errorMessage, errorType}.
func TestFunctionError(t *testing.T) {
	t.Parallel()
	for _, err := range []error{&planRefusal{"ecs.count: must be 1..100000, got 0"}, planRefusalValue{}} {
		name, cause := launch.FunctionError(err)
		var doc map[string]string
		if json.Unmarshal([]byte(cause), &doc) != nil || doc["errorType"] != name || doc["errorMessage"] != err.Error() ||
			!strings.HasPrefix(name, "planRefusal") {
			t.Errorf("FunctionError(%T) = %q, %q", err, name, cause)
		}
	}
	if name, _ := launch.FunctionError(errors.New("x")); name != "errorString" {
		t.Errorf("FunctionError(errors.New) = %q, want errorString", name)
	}
}

type planRefusalValue struct{}

func (planRefusalValue) Error() string { return "refused" }
