package stack

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// queueID finds the logical ID of the queue made with construct ID stem.
func queueID(t *testing.T, s *synthesized, stem string) string {
	t.Helper()
	re := regexp.MustCompile("^" + stem + "[0-9A-F]{8}$")
	for id := range s.resources("AWS::SQS::Queue") {
		if re.MatchString(id) {
			return id
		}
	}
	t.Fatalf("no queue %s in the template", stem)
	return ""
}

// GIVEN the fully configured stack
// WHEN the relaunch queue, its dead-letter queue and retry's event source
// are read
// THEN the queue is encrypted and TLS-only, hides a received batch for 6×
// retry's timeout, dead-letters after 10 receives into its own DLQ; retry
// consumes it in batches of 10 reporting item failures; retry may send to
// it, and EventBridge only for the TaskFailedToStart rule
func TestRelaunchQueue(t *testing.T) {
	s := sharedStack(t)
	q, dlq := queueID(t, s, "RelaunchQueue"), queueID(t, s, "RelaunchDeadLetterQueue")
	retry := s.functionID(t, "retry")
	res := s.json["Resources"].(map[string]any)
	timeout := props(res[retry].(map[string]any))["Timeout"].(float64)
	qp := props(res[q].(map[string]any))
	for k, want := range map[string]any{
		"SqsManagedSseEnabled":   true,
		"MessageRetentionPeriod": float64(14 * 24 * 3600),
		"VisibilityTimeout":      6 * timeout,
		"RedrivePolicy": map[string]any{
			"deadLetterTargetArn": map[string]any{"Fn::GetAtt": []any{dlq, "Arn"}},
			"maxReceiveCount":     float64(10),
		},
	} {
		if !reflect.DeepEqual(qp[k], want) {
			t.Errorf("relaunch queue %s: got %v, want %v", k, qp[k], want)
		}
	}
	if timeout != 30 || qp["VisibilityTimeout"] != float64(180) {
		t.Errorf("retry timeout %v s, visibility %v s: want 30 and 180", timeout, qp["VisibilityTimeout"])
	}
	if _, ok := props(res[dlq].(map[string]any))["RedrivePolicy"]; ok {
		t.Errorf("the relaunch DLQ has a redrive policy of its own")
	}
	// TLS only, on this queue.
	tls := false
	for _, r := range s.resources("AWS::SQS::QueuePolicy") {
		if render(props(r)["Queues"]) != "${"+q+"}" {
			continue
		}
		for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Effect"] == "Deny" && render(st["Condition"]) == `{"Bool":{"aws:SecureTransport":"false"}}` {
				tls = true
			}
		}
	}
	if !tls {
		t.Errorf("relaunch queue: no policy denying plain HTTP")
	}
	// EventBridge may send to it for the TaskFailedToStart rule only.
	var rule string
	for id := range s.resources("AWS::Events::Rule") {
		if strings.HasPrefix(id, ruleID("ecs-task-failed-to-start")) {
			rule = id
		}
	}
	var allows []string
	for _, r := range s.resources("AWS::SQS::QueuePolicy") {
		if render(props(r)["Queues"]) != "${"+q+"}" {
			continue
		}
		for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Effect"] == "Allow" {
				allows = append(allows, render(st["Principal"])+" "+render(st["Action"])+" "+render(st["Condition"]))
			}
		}
	}
	want := `{"Service":"events.amazonaws.com"} sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:SendMessage {"ArnEquals":{"aws:SourceArn":{"Fn::GetAtt":["` + rule + `","Arn"]}}}`
	if rule == "" || !slices.Equal(allows, []string{want}) {
		t.Errorf("relaunch queue policy allows %q, want only %q", allows, want)
	}

	maps := s.resources("AWS::Lambda::EventSourceMapping")
	if len(maps) != 1 {
		t.Fatalf("got %d event source mappings, want 1", len(maps))
	}
	for _, m := range maps {
		mp := props(m)
		if render(mp["FunctionName"]) != "${"+retry+"}" || render(mp["EventSourceArn"]) != "${"+q+".Arn}" {
			t.Errorf("event source mapping: function %s, source %s; want retry on the relaunch queue", render(mp["FunctionName"]), render(mp["EventSourceArn"]))
		}
		if mp["BatchSize"] != float64(10) || !reflect.DeepEqual(mp["FunctionResponseTypes"], []any{"ReportBatchItemFailures"}) {
			t.Errorf("event source mapping: batch %v, response types %v; want 10 and ReportBatchItemFailures", mp["BatchSize"], mp["FunctionResponseTypes"])
		}
	}

	// Who may do what on the relaunch queue: retry sends and consumes,
	// nobody else touches it.
	queueArn := "${" + q + ".Arn}"
	for _, name := range functionNames() {
		var got []string
		for _, st := range s.roleStatements(t, name) {
			if !slices.Contains(asListStrings(st["Resource"]), queueArn) {
				continue
			}
			for _, a := range asList(st["Action"]) {
				got = append(got, a.(string))
			}
		}
		slices.Sort(got)
		got = slices.Compact(got)
		var want []string
		switch name {
		case "retry":
			want = []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"}
		case "summary", "plan": // the sweep hands described stops that need a replacement to the queue; plan starts heartbeats
			want = []string{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s on the relaunch queue: got %v, want %v", name, got, want)
		}
	}
}

func asListStrings(v any) []string {
	var out []string
	for _, e := range asList(v) {
		out = append(out, render(e))
	}
	return out
}

// GIVEN the fully configured stack
// WHEN the functions' asynchronous invoke configurations are read
// THEN retry retries twice for up to 6 h and then sends the event to the
// product DLQ; submit likewise into the event DLQ
func TestAsyncInvokeConfigs(t *testing.T) {
	s := sharedStack(t)
	want := map[string]string{
		s.functionID(t, "retry"):  queueID(t, s, "DeadLetterQueue"),
		s.functionID(t, "submit"): queueID(t, s, "EventDeadLetterQueue"),
	}
	got := map[string]string{}
	for id, r := range s.resources("AWS::Lambda::EventInvokeConfig") {
		p := props(r)
		fn := render(p["FunctionName"])
		fn = fn[2 : len(fn)-1] // ${ID}
		if p["MaximumRetryAttempts"] != float64(2) || p["MaximumEventAgeInSeconds"] != float64(6*3600) || p["Qualifier"] != "$LATEST" {
			t.Errorf("%s (%s): retries %v, age %v, qualifier %v; want 2, 21600, $LATEST", id, fn, p["MaximumRetryAttempts"], p["MaximumEventAgeInSeconds"], p["Qualifier"])
		}
		dest := render(p["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"])
		got[fn] = dest[2 : len(dest)-len(".Arn}")]
		if _, ok := p["DestinationConfig"].(map[string]any)["OnSuccess"]; ok {
			t.Errorf("%s: an OnSuccess destination", id)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("OnFailure destinations (function → queue): got %v, want %v", got, want)
	}
}
