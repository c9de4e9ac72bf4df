package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

// badBase returns a valid request as a JSON document (ECS on Fargate and
// EC2), for the catalogue to break one field at a time.
func badBase() map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(`{"requestId":"bad-input","maxAttempts":8,"deadlineSeconds":600,
	 "ecs":{"cluster":"jobs","taskDefinition":"job:3","count":25,"launchType":"FARGATE",
	        "networkConfiguration":{"awsvpcConfiguration":{"subnets":["subnet-a"],"securityGroups":["sg-1"],"assignPublicIp":"DISABLED"}},
	        "overrides":{"containerOverrides":[{"name":"main","command":["run"]}]},"tags":{"team":"a"}},
	 "ec2":{"launchTemplate":{"launchTemplateId":"lt-1","version":"$Latest"},"instanceTypes":["c7g.large"],
	        "subnetIds":["subnet-a","subnet-b"],"count":4,"market":"spot","tags":{"team":"a"}},
	 "caps":{"maxTasks":100,"maxInstances":10}}`), &m)
	return m
}

// set puts v at the dotted path of m ("ecs.count", "ec2.subnetIds"); a
// nil v with del removes the key.
func set(m map[string]any, path string, v any, del bool) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		m = m[k].(map[string]any)
	}
	if del {
		delete(m, keys[len(keys)-1])
		return
	}
	m[keys[len(keys)-1]] = v
}

func many(n int, f func(i int) any) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

type badCase struct {
	name  string
	path  string // field to break
	value any
	del   bool
	field string // the field the error must name
}

// badCatalogue is every request field broken in each way it can be:
// missing, wrong type, out of range, oversized, malformed.
func badCatalogue() []badCase {
	big := strings.Repeat("x", 300)
	tags := map[string]any{}
	for i := range 41 {
		tags["k"+strings.Repeat("x", i)] = "v"
	}
	return []badCase{
		{"requestId missing", "requestId", nil, true, "requestId"},
		{"requestId empty", "requestId", "", false, "requestId"},
		{"requestId wrong type", "requestId", 12, false, "request"},
		{"requestId oversized", "requestId", big, false, "requestId"},
		{"requestId bad characters", "requestId", "a b;c", false, "requestId"},
		{"version unknown", "version", 2, false, "version"},
		{"unknown field", "cout", 3, false, "request"},
		{"ecs and ec2 missing", "ecs", nil, true, ""}, // + ec2 below
		{"maxAttempts negative", "maxAttempts", -1, false, "maxAttempts"},
		{"maxAttempts above range", "maxAttempts", 51, false, "maxAttempts"},
		{"maxAttempts wrong type", "maxAttempts", "8", false, "request"},
		{"maxAttempts fraction", "maxAttempts", 1.5, false, "request"},
		{"deadlineSeconds negative", "deadlineSeconds", -1, false, "deadlineSeconds"},
		{"deadlineSeconds above a week", "deadlineSeconds", 7*24*3600 + 1, false, "deadlineSeconds"},
		{"caps.maxTasks negative", "caps.maxTasks", -1, false, "caps.maxTasks"},
		{"caps.maxInstances negative", "caps.maxInstances", -1, false, "caps.maxInstances"},
		{"caps.notAfter not a time", "caps.notAfter", "tomorrow", false, "request"},
		{"ecs wrong type", "ecs", "jobs", false, "request"},
		{"ecs.cluster missing", "ecs.cluster", nil, true, "ecs.cluster"},
		{"ecs.taskDefinition missing", "ecs.taskDefinition", nil, true, "ecs.taskDefinition"},
		{"ecs.count missing", "ecs.count", nil, true, "ecs.count"},
		{"ecs.count zero", "ecs.count", 0, false, "ecs.count"},
		{"ecs.count negative", "ecs.count", -5, false, "ecs.count"},
		{"ecs.count above range", "ecs.count", MaxECSCount + 1, false, "ecs.count"},
		{"ecs.count above caps", "ecs.count", 101, false, "ecs.count"},
		{"ecs.count wrong type", "ecs.count", "25", false, "request"},
		{"ecs.count overflows int", "ecs.count", 1e30, false, "request"},
		{"ecs.launchType unknown", "ecs.launchType", "LAMBDA", false, "ecs.launchType"},
		{"ecs.launchType with capacity providers", "ecs.capacityProviderStrategy", []any{map[string]any{"capacityProvider": "FARGATE_SPOT"}}, false, "ecs.launchType"},
		{"ecs.networkConfiguration missing for Fargate", "ecs.networkConfiguration", nil, true, "ecs.networkConfiguration.awsvpcConfiguration"},
		{"ecs subnets empty", "ecs.networkConfiguration.awsvpcConfiguration.subnets", []any{}, false, "ecs.networkConfiguration.awsvpcConfiguration.subnets"},
		{"ecs subnets oversized", "ecs.networkConfiguration.awsvpcConfiguration.subnets", many(17, func(int) any { return "subnet-a" }), false, "ecs.networkConfiguration.awsvpcConfiguration.subnets"},
		{"ecs securityGroups oversized", "ecs.networkConfiguration.awsvpcConfiguration.securityGroups", many(6, func(int) any { return "sg-1" }), false, "ecs.networkConfiguration.awsvpcConfiguration.securityGroups"},
		{"ecs assignPublicIp unknown", "ecs.networkConfiguration.awsvpcConfiguration.assignPublicIp", "YES", false, "ecs.networkConfiguration.awsvpcConfiguration.assignPublicIp"},
		{"ecs overrides oversized", "ecs.overrides.containerOverrides", []any{map[string]any{"name": "main", "command": []any{strings.Repeat("y", 9000)}}}, false, "ecs.overrides"},
		{"ecs container override without name", "ecs.overrides.containerOverrides", []any{map[string]any{"command": []any{"run"}}}, false, "ecs.overrides.containerOverrides[0].name"},
		{"ecs.group oversized", "ecs.group", big, false, "ecs.group"},
		{"ecs.tags too many", "ecs.tags", tags, false, "ecs.tags"},
		{"ecs.tags reserved prefix", "ecs.tags", map[string]any{"aws:x": "v"}, false, "ecs.tags"},
		{"ecs.tags th: prefix", "ecs.tags", map[string]any{"th:startedBy": "th/forged/0/1"}, false, "ecs.tags"},
		{"ecs.tags value oversized", "ecs.tags", map[string]any{"k": big}, false, "ecs.tags[k]"},
		{"ecs capacity provider weight out of range", "ecs.launchType", "", false, ""}, // replaced below
		{"ec2.launchTemplate missing", "ec2.launchTemplate", map[string]any{}, false, "ec2.launchTemplate"},
		{"ec2.launchTemplate id and name", "ec2.launchTemplate", map[string]any{"launchTemplateId": "lt-1", "launchTemplateName": "n"}, false, "ec2.launchTemplate"},
		{"ec2.instanceTypes missing", "ec2.instanceTypes", nil, true, "ec2.instanceTypes"},
		{"ec2.instanceTypes oversized", "ec2.instanceTypes", many(21, func(int) any { return "c7g.large" }), false, "ec2.instanceTypes"},
		{"ec2.instanceTypes malformed", "ec2.instanceTypes", []any{"c7g large"}, false, "ec2.instanceTypes[0]"},
		{"ec2.subnetIds missing", "ec2.subnetIds", nil, true, "ec2.subnetIds"},
		{"ec2.subnetIds malformed", "ec2.subnetIds", []any{"arn:aws:ec2:us-east-1:123:subnet/subnet-a"}, false, "ec2.subnetIds[0]"},
		{"ec2.subnetIds oversized", "ec2.subnetIds", many(17, func(int) any { return "subnet-a" }), false, "ec2.subnetIds"},
		{"ec2.count zero", "ec2.count", 0, false, "ec2.count"},
		{"ec2.count above range", "ec2.count", MaxEC2Count + 1, false, "ec2.count"},
		{"ec2.count above caps", "ec2.count", 11, false, "ec2.count"},
		{"ec2.market unknown", "ec2.market", "reserved", false, "ec2.market"},
		{"ec2.tags reserved prefix", "ec2.tags", map[string]any{"th:requestId": "someone-else"}, false, "ec2.tags"},
	}
}

func badRequest(t *testing.T, c badCase) []byte {
	t.Helper()
	m := badBase()
	switch c.name {
	case "ecs and ec2 missing":
		delete(m, "ecs")
		delete(m, "ec2")
		c.field = "ecs, ec2"
	case "ecs capacity provider weight out of range":
		set(m, "ecs.launchType", nil, true)
		set(m, "ecs.capacityProviderStrategy", []any{map[string]any{"capacityProvider": "FARGATE", "weight": 1001}}, false)
	default:
		set(m, c.path, c.value, c.del)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantField(c badCase) string {
	switch c.name {
	case "ecs and ec2 missing":
		return "ecs, ec2"
	case "ecs capacity provider weight out of range":
		return "ecs.capacityProviderStrategy[0].weight"
	}
	return c.field
}

// TestBadInputCatalogue: each broken field gives a *ValidationError whose
// problems name that field, and the base request is valid (so the field
// is what broke it).
func TestBadInputCatalogue(t *testing.T) {
	t.Parallel()
	if _, err := ParseRequest(mustJSON(t, badBase())); err != nil {
		t.Fatalf("the catalogue's base request is invalid: %v", err)
	}
	for _, c := range badCatalogue() {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseRequest(badRequest(t, c))
			var v *ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("ParseRequest: %v, want a *ValidationError", err)
			}
			field := wantField(c)
			named := false
			for _, p := range v.Problems {
				named = named || strings.HasPrefix(p, field+":") || strings.HasPrefix(p, field+" ")
			}
			if !named {
				t.Fatalf("problems %q do not name %s", v.Problems, field)
			}
		})
	}
}

// TestBadInputPlanStoresNothing: the plan handler (the state machine's
// first step) answers each bad request with a PermanentError — the type
// the state machine never retries — naming the field, and stores nothing,
// so nothing can be launched for it.
func TestBadInputPlanStoresNothing(t *testing.T) {
	t.Parallel()
	st, db := newTestStore(t)
	var logs bytes.Buffer
	h := NewPlanHandler(st, func(o *HandlerOptions) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	for _, c := range badCatalogue() {
		t.Run(c.name, func(t *testing.T) {
			b := badRequest(t, c)
			_, err := h.Handle(context.Background(), b)
			var perm *failure.PermanentError
			if !errors.As(err, &perm) || err != error(perm) {
				t.Fatalf("plan: %T %v, want an unwrapped *failure.PermanentError", err, err)
			}
			if !strings.Contains(err.Error(), wantField(c)) {
				t.Fatalf("plan error %q does not name %s", err, wantField(c))
			}
		})
	}
	out, err := db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(st.table)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Count != 0 {
		t.Errorf("the table holds %d items after only bad requests, want none", out.Count)
	}
	if strings.Contains(logs.String(), strings.Repeat("y", 100)) {
		t.Errorf("the plan logs echo the request's container command")
	}
}

// GIVEN an invalid request with a usable requestId, and one whose
// requestId is itself too long
// WHEN plan refuses them
// THEN the log line names the first's requestId and not the second's
func TestBadInputLogNamesRequest(t *testing.T) {
	t.Parallel()
	st, _ := newTestStore(t)
	var logs bytes.Buffer
	h := NewPlanHandler(st, func(o *HandlerOptions) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	long := strings.Repeat("r", 4096)
	for _, id := range []string{"job-42", long} {
		b := fmt.Appendf(nil, `{"requestId":%q,"ecs":{"cluster":"c","taskDefinition":"td:1","count":-1}}`, id)
		if _, err := h.Handle(context.Background(), b); err == nil {
			t.Fatalf("requestId %.10s…: count -1 accepted", id)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"requestId":"job-42"`) || !strings.Contains(lines[1], `"requestId":""`) {
		t.Errorf("plan logs %q: want the first line to name job-42, the second no id", lines)
	}
}

// TestBadInputErrorsAreBounded: an error message (logged by plan, carried
// in the execution's Cause) must not echo an unbounded user string: a 1 MB
// tag key or instance type, or 100,000 bad list entries, must not make a
// 1 MB log line; the error still names the field.
func TestBadInputErrorsAreBounded(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("z", 1<<20)
	many := make([]any, 100_000)
	for i := range many {
		many[i] = "bad type"
	}
	for name, tc := range map[string]struct {
		mutate func(m map[string]any)
		field  string
	}{
		"tag key":        {func(m map[string]any) { set(m, "ecs.tags", map[string]any{huge + " #": "v"}, false) }, "ecs.tags: key"},
		"tag key, value": {func(m map[string]any) { set(m, "ecs.tags", map[string]any{"é" + huge: huge}, false) }, "ecs.tags[é"},
		"instance type":  {func(m map[string]any) { set(m, "ec2.instanceTypes", []any{huge + " "}, false) }, "ec2.instanceTypes[0]"},
		"instance types": {func(m map[string]any) { set(m, "ec2.instanceTypes", many, false) }, "ec2.instanceTypes"},
		"subnet id":      {func(m map[string]any) { set(m, "ec2.subnetIds", []any{huge}, false) }, "ec2.subnetIds[0]"},
		"launch type":    {func(m map[string]any) { set(m, "ecs.launchType", huge, false) }, "ecs.launchType"},
		"market":         {func(m map[string]any) { set(m, "ec2.market", huge, false) }, "ec2.market"},
		"request id":     {func(m map[string]any) { m["requestId"] = huge }, "requestId"},
		"unknown field":  {func(m map[string]any) { m[huge] = 1 }, "unknown field"},
		"wrong type":     {func(m map[string]any) { set(m, "ecs.count", huge, false) }, "ecs.count"},
		"assignPublicIp": {func(m map[string]any) {
			set(m, "ecs.networkConfiguration.awsvpcConfiguration.assignPublicIp", huge, false)
		}, "assignPublicIp"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := badBase()
			tc.mutate(m)
			_, err := ParseRequest(mustJSON(t, m))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if n := len(msg); n > 2048 {
				t.Errorf("error is %d bytes long: it echoes the whole value", n)
			}
			if !strings.Contains(msg, tc.field) || !utf8.ValidString(msg) {
				t.Errorf("error %.300q: want valid UTF-8 naming %q", msg, tc.field)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
