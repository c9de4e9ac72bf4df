package launch_test

import (
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
