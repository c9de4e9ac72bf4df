package failure

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseECSEvent(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in        string
		wantErr   string
		eventName string
		task      ECSTask
		class     Class
	}{
		"service throttle": {
			in:        `{"source":"aws.ecs","detail-type":"ECS Service Action","detail":{"eventType":"WARN","eventName":"ECS_OPERATION_THROTTLED"}}`,
			eventName: "ECS_OPERATION_THROTTLED", class: Throttled,
		},
		"service steady state": {
			in:        `{"source":"aws.ecs","detail-type":"ECS Service Action","detail":{"eventType":"INFO","eventName":"SERVICE_STEADY_STATE"}}`,
			eventName: "SERVICE_STEADY_STATE", class: Permanent,
		},
		"task failed to start": {
			in: `{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{"taskArn":"arn:t","startedBy":"th/x/0/1","lastStatus":"STOPPED","stopCode":"TaskFailedToStart","stoppedReason":"Timeout waiting for network interface provisioning to complete."}}`,
			task: ECSTask{TaskArn: "arn:t", StartedBy: "th/x/0/1", LastStatus: "STOPPED", StopCode: "TaskFailedToStart",
				StoppedReason: "Timeout waiting for network interface provisioning to complete."},
			class: Throttled, // ENI provisioning timeouts come from throttled EC2 calls

		},
		"another source parses": {in: `{"source":"aws.ec2","detail-type":"x"}`, class: Permanent},
		"not json":              {in: `{`, wantErr: "EventBridge event"},
		"detail-type missing":   {in: `{"source":"aws.ecs"}`, wantErr: "detail-type"},
		"detail-type a number":  {in: `{"detail-type":5}`, wantErr: "EventBridge event"},
		"detail not an object":  {in: `{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":[]}`, wantErr: "ECS Task State Change: detail"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ev, err := ParseECSEvent([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.EventName != tc.eventName || !reflect.DeepEqual(ev.Task, tc.task) || ev.Class.Class != tc.class {
				t.Errorf("got %q %+v %s, want %q %+v %s", ev.EventName, ev.Task, ev.Class.Class, tc.eventName, tc.task, tc.class)
			}
			if c := ClassifyEvent([]byte(tc.in)); c != ev.Class {
				t.Errorf("ClassifyEvent %+v differs from the parsed class %+v", c, ev.Class)
			}
		})
	}
}
