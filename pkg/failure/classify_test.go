package failure

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// expectation is one row of testdata/shapes/expected.json. Fields left out
// of a row must be empty in the classification.
type expectation struct {
	Class           Class     `json:"class"`
	Code            string    `json:"code"`
	Source          Source    `json:"source"`
	API             string    `json:"api"`
	ReuseToken      bool      `json:"reuseToken"`
	MinDelaySeconds float64   `json:"minDelaySeconds"`
	Scope           ScopeKind `json:"scope"`
	ScopeValue      string    `json:"scopeValue"`
	AZ              string    `json:"az"`
	TaskARN         string    `json:"taskArn"`
	StartedBy       string    `json:"startedBy"`
}

func loadShapes(t testing.TB) (map[string]expectation, map[string][]byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "shapes", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]expectation
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "shapes", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	payloads := map[string][]byte{}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "expected.json" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		payloads[name] = b
	}
	return want, payloads
}

// TestClassifyShapes runs Classify on every real-shaped payload in
// testdata/shapes and compares every field with expected.json.
func TestClassifyShapes(t *testing.T) {
	t.Parallel()
	want, payloads := loadShapes(t)
	for name := range payloads {
		if _, ok := want[name]; !ok {
			t.Errorf("testdata/shapes/%s has no row in expected.json", name)
		}
	}
	for name, w := range want {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			t.Parallel()
			payload, ok := payloads[name]
			if !ok {
				t.Fatalf("expected.json names %s, which does not exist", name)
			}
			got := Classify(payload)
			checkClassification(t, got, w)
		})
	}
}

func checkClassification(t *testing.T, got Classification, w expectation) {
	t.Helper()
	gotE := expectation{
		Class: got.Class, Code: got.Code, Source: got.Source, API: got.API, ReuseToken: got.ReuseToken,
		MinDelaySeconds: got.MinDelaySeconds, Scope: got.Scope, ScopeValue: got.ScopeValue, AZ: got.AZ,
		TaskARN: got.TaskARN, StartedBy: got.StartedBy,
	}
	if gotE != w {
		t.Errorf("got  %+v\nwant %+v\nmessage: %s", gotE, w, got.Message)
	}
	if got.Retryable != got.Class.Retryable() {
		t.Errorf("retryable = %v for class %s", got.Retryable, got.Class)
	}
	if got.Message == "" {
		t.Errorf("message is empty")
	}
}

func TestClassifyUnparseableSaysWhy(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   string
		want string // a substring of the message
	}{
		"empty":             {"  ", "input is empty"},
		"not json":          {"Rate exceeded", "not valid JSON"},
		"truncated":         {`{"Error":"X","Cause":"a`, "not valid JSON"},
		"scalar":            {`"ThrottlingException"`, "not an object"},
		"array of numbers":  {`[1,2]`, "not a failures[] list"},
		"no known key":      {`{"foo":1,"bar":2}`, `"bar" "foo"`},
		"Error not string":  {`{"Error":42}`, "Error: want a string, got 42"},
		"Cause not string":  {`{"Error":"States.Timeout","Cause":{"a":1}}`, "Cause: want a string"},
		"failures object":   {`{"failures":{"reason":"AGENT"}}`, "failures: want a list"},
		"reason number":     {`{"reason":7}`, "reason: want a string"},
		"detail-type empty": {`{"detail-type":"","detail":{}}`, `"detail-type" is missing`},
		"detail not object": {`{"detail-type":"ECS Task State Change","source":"aws.ecs","detail":"x"}`, "detail"},
		"statusCode string": {`{"code":"X","statusCode":"500"}`, "statusCode: want an integer"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := Classify([]byte(tt.in))
			if got.Class != Permanent || got.Code != "Unparseable" || got.Source != SourceUnparseable {
				t.Fatalf("got %s/%s/%s, want permanent/Unparseable/unparseable", got.Class, got.Code, got.Source)
			}
			if !strings.Contains(got.Message, tt.want) {
				t.Errorf("message %q does not contain %q", got.Message, tt.want)
			}
		})
	}
}

func TestClassifyStatesTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, errName, cause string
		class                Class
		code                 string
		reuse                bool
	}{
		{"heartbeat", "States.HeartbeatTimeout", "", Transient, "States.HeartbeatTimeout", true},
		{"data limit", "States.DataLimitExceeded", "payload too large", Permanent, "States.DataLimitExceeded", false},
		{"runtime", "States.Runtime", "An error occurred while executing the state", Permanent, "States.Runtime", false},
		{"branch failed text", "States.BranchFailed", "Rate exceeded", Throttled, "States.BranchFailed", false},
		{"ecs server", "ECS.ServerException", "Service Unavailable (Service: AmazonECS; Status Code: 500; Error Code: ServerException; Request ID: x)", Transient, "ServerException", true},
		{"ecs access denied", "ECS.AccessDeniedException", "User is not authorized (Service: AmazonECS; Status Code: 400; Error Code: AccessDeniedException)", Permanent, "AccessDeniedException", false},
		{"ecs limit", "ECS.LimitExceededException", "The limit for the resource has been exceeded.", Quota, "LimitExceededException", false},
		{"ecs client provisioning", "ECS.ClientException", "Tasks provisioning capacity limit exceeded.", Capacity, "Tasks provisioning capacity limit exceeded", false},
		{"fargate vcpu quota", "ECS.AmazonECSException", "You've reached the limit on the number of vCPUs you can run concurrently", Quota, "FargateVCPULimitExceeded", false},
		{"lambda throttled ec2", "Lambda.EC2ThrottledException", "", Throttled, "Lambda.EC2ThrottledException", false},
		{"lambda new service error", "Lambda.SomethingNewException", "", Transient, "SomethingNewException", true},
		{"runtime exit", "Runtime.ExitError", "signal: killed", Transient, "Runtime.ExitError", true},
		{"runtime handler missing", "Runtime.HandlerNotFound", "", Permanent, "Runtime.HandlerNotFound", false},
		{"empty name", "", "", Transient, "Unknown", true},
		{"named without code", "TransientError", `{"errorMessage":"transient failure in runtask: response lost","errorType":"TransientError"}`, Transient, "TransientError", true},
		{"named unparseable message", "CapacityError", `{"errorMessage":"out of luck","errorType":"CapacityError"}`, Capacity, "CapacityError", false},
		{"python boto text", "ClientError", `{"errorMessage":"An error occurred (ThrottlingException) when calling the RunTask operation (reached max retries: 4): Rate exceeded","errorType":"ClientError"}`, Throttled, "ThrottlingException", false},
		{"go deadline text", "wrapError", `{"errorMessage":"runtask: operation error ECS: RunTask, https response error StatusCode: 0, RequestID: , canceled, context deadline exceeded","errorType":"wrapError"}`, Transient, "wrapError", true},
		{"go 503 text", "OperationError", `{"errorMessage":"operation error EC2: RunInstances, https response error StatusCode: 503, RequestID: r, api error Unavailable: The service is unavailable.","errorType":"OperationError"}`, Transient, "Unavailable", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ClassifyStates(tt.errName, tt.cause)
			if got.Class != tt.class || got.Code != tt.code || got.ReuseToken != tt.reuse {
				t.Errorf("got %s/%s reuse=%v, want %s/%s reuse=%v (%s)", got.Class, got.Code, got.ReuseToken, tt.class, tt.code, tt.reuse, got.Message)
			}
		})
	}
}

func TestClassifyRunTaskFailureTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason, detail string
		class          Class
		scope          ScopeKind
		code           string
	}{
		{"RESOURCE:CPU", "", Capacity, ScopeCluster, "RESOURCE:CPU"},
		{"RESOURCE:PORTS", "", Capacity, ScopeCluster, "RESOURCE:PORTS"},
		{"RESOURCE:ENI", "", Capacity, ScopeCluster, "RESOURCE:ENI"},
		{"RESOURCE:GPU", "", Capacity, ScopeCluster, "RESOURCE:GPU"},
		{"RESOURCE:FARGATE", "", Capacity, ScopeAZ, "RESOURCE:FARGATE"},
		// AWS Fargate's concurrent vCPU quota ("Amazon ECS service quotas"):
		// an account limit, not a transient failure.
		{"You've reached the limit on the number of vCPUs you can run concurrently", "", Quota, ScopeNone, "FargateVCPULimitExceeded"},
		{"You've reached the limit on the number of tasks you can run concurrently", "", Quota, ScopeNone, "TaskLimitExceeded"},
		{"RESOURCE:SOMETHING_NEW", "", Capacity, ScopeCluster, "RESOURCE:SOMETHING_NEW"},
		{"INACTIVE", "", Permanent, ScopeNone, "INACTIVE"},
		{"Rate exceeded", "", Throttled, ScopeNone, "Rate exceeded"},
		{"An unexpected thing happened. Again.", "", Transient, ScopeNone, "An unexpected thing happened"},
		{"", "", Transient, ScopeNone, "Unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			t.Parallel()
			got := ClassifyRunTaskFailure(tt.reason, tt.detail)
			if got.Class != tt.class || got.Scope != tt.scope || got.Code != tt.code {
				t.Errorf("got %s/%s/%q, want %s/%s/%q", got.Class, got.Scope, got.Code, tt.class, tt.scope, tt.code)
			}
			if got.ReuseToken {
				t.Errorf("reuseToken is true for a failures[] entry")
			}
		})
	}
	if got := ClassifyRunTaskFailures(nil); got.Class != Permanent || got.Code != "NoFailure" {
		t.Errorf("empty failures: got %s/%s, want permanent/NoFailure", got.Class, got.Code)
	}
}

func TestClassifyStatesTaskFailedWithNamedDocument(t *testing.T) {
	t.Parallel()
	got := ClassifyStates("States.TaskFailed", `{"errorMessage":"quota exceeded VcpuLimitExceeded in ec2:RunInstances: limit 64","errorType":"QuotaError"}`)
	if got.Class != Quota || got.Code != "VcpuLimitExceeded" || got.API != "ec2:RunInstances" {
		t.Errorf("got %s/%s api=%s, want quota/VcpuLimitExceeded api=ec2:RunInstances", got.Class, got.Code, got.API)
	}
	got = ClassifyStates("wrapError", `{"errorMessage":"operation error Secrets Manager: GetSecretValue, https response error StatusCode: 400, RequestID: r, api error AccessDeniedException: denied","errorType":"wrapError"}`)
	if got.Class != Permanent || got.API != "secretsmanager:GetSecretValue" {
		t.Errorf("got %s api=%s, want permanent api=secretsmanager:GetSecretValue", got.Class, got.API)
	}
}

func TestClassifyEventTable(t *testing.T) {
	t.Parallel()
	service := func(name, reason string) string {
		return `{"detail-type":"ECS Service Action","source":"aws.ecs","resources":["arn:aws:ecs:us-east-1:1:service/c/s"],
			"detail":{"eventType":"ERROR","eventName":"` + name + `","clusterArn":"arn:aws:ecs:us-east-1:1:cluster/c","reason":"` + reason + `"}}`
	}
	task := func(stopCode, reason, container string) string {
		return `{"detail-type":"ECS Task State Change","source":"aws.ecs","detail":{"lastStatus":"STOPPED","stopCode":"` + stopCode +
			`","stoppedReason":"` + reason + `","clusterArn":"arn:aws:ecs:us-east-1:1:cluster/c","taskArn":"arn:t","startedBy":"th/x/1/0",
			"containers":[{"name":"app","reason":"` + container + `"}]}}`
	}
	tests := map[string]struct {
		in    string
		class Class
		code  string
		scope ScopeKind
		value string
	}{
		"start impaired":         {service("SERVICE_TASK_START_IMPAIRED", ""), Transient, "SERVICE_TASK_START_IMPAIRED", "", ""},
		"daemon violated":        {service("SERVICE_DAEMON_PLACEMENT_CONSTRAINT_VIOLATED", ""), Permanent, "SERVICE_DAEMON_PLACEMENT_CONSTRAINT_VIOLATED", "", ""},
		"deployment failed":      {service("SERVICE_DEPLOYMENT_FAILED", ""), Permanent, "SERVICE_DEPLOYMENT_FAILED", "", ""},
		"placement memory":       {service("SERVICE_TASK_PLACEMENT_FAILURE", "RESOURCE:MEMORY"), Capacity, "SERVICE_TASK_PLACEMENT_FAILURE", ScopeCluster, "arn:aws:ecs:us-east-1:1:cluster/c"},
		"placement no reason":    {service("SERVICE_TASK_PLACEMENT_FAILURE", ""), Capacity, "SERVICE_TASK_PLACEMENT_FAILURE", ScopeCluster, "arn:aws:ecs:us-east-1:1:cluster/c"},
		"termination notice":     {task("TerminationNotice", "Task stopped due to a maintenance event", ""), Transient, "TerminationNotice", "", ""},
		"user initiated":         {task("UserInitiated", "Task stopped by user", ""), Permanent, "UserInitiated", "", ""},
		"cannot start":           {task("TaskFailedToStart", "CannotStartContainerError: failed to create shim task: OCI runtime create failed", ""), Permanent, "CannotStartContainerError", "", ""},
		"create container":       {task("TaskFailedToStart", "CannotCreateContainerError: Error response from daemon: devmapper", ""), Transient, "CannotCreateContainerError", "", ""},
		"pull timeout":           {task("TaskFailedToStart", "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref: dial tcp 10.0.0.1:443: i/o timeout", ""), Transient, "CannotPullContainerError", "", ""},
		"unknown then container": {task("TaskFailedToStart", "Task failed to start", "ResourceInitializationError: failed to validate logger args: The specified log group does not exist"), Permanent, "ResourceInitializationError", "", ""},
		"nothing recognised":     {task("TaskFailedToStart", "Something new happened", ""), Transient, "Something new happened", "", ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := ClassifyEvent([]byte(tt.in))
			if got.Class != tt.class || got.Code != tt.code || got.Scope != tt.scope || got.ScopeValue != tt.value {
				t.Errorf("got %s/%s scope=%s:%s, want %s/%s scope=%s:%s (%s)", got.Class, got.Code, got.Scope, got.ScopeValue,
					tt.class, tt.code, tt.scope, tt.value, got.Message)
			}
			if got.ReuseToken || got.Source != SourceEvent {
				t.Errorf("reuseToken %v source %s, want false/event", got.ReuseToken, got.Source)
			}
		})
	}
}
