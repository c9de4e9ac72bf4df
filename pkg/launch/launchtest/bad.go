package launchtest

import (
	"encoding/json"
	"strings"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// BadBase returns a valid request as a JSON document (ECS on Fargate and
// EC2), for the catalogue to break one field at a time.
func BadBase() map[string]any {
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

// Set puts v at the dotted path of m ("ecs.count", "ec2.subnetIds"); a
// nil v with del removes the key.
func Set(m map[string]any, path string, v any, del bool) {
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

// BadCase is one way to break one field of BadBase.
type BadCase struct {
	Name  string
	Path  string // field to break
	Value any
	Del   bool
	Field string // the field the error must name
}

// BadCatalogue is every request field broken in each way it can be:
// missing, wrong type, out of range, oversized, malformed.
func BadCatalogue() []BadCase {
	big := strings.Repeat("x", 300)
	tags := map[string]any{}
	for i := range 41 {
		tags["k"+strings.Repeat("x", i)] = "v"
	}
	return []BadCase{
		{"requestId missing", "requestId", nil, true, "requestId"},
		{"requestId empty", "requestId", "", false, "requestId"},
		{"requestId wrong type", "requestId", 12, false, "request"},
		{"requestId oversized", "requestId", big, false, "requestId"},
		{"requestId bad characters", "requestId", "a b;c", false, "requestId"},
		{"version unknown", "version", 3, false, "version"},
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
		{"ecs.count above range", "ecs.count", launch.MaxECSCount + 1, false, "ecs.count"},
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
		{"ec2.count above range", "ec2.count", launch.MaxEC2Count + 1, false, "ec2.count"},
		{"ec2.count above caps", "ec2.count", 11, false, "ec2.count"},
		{"ec2.market unknown", "ec2.market", "reserved", false, "ec2.market"},
		{"ec2.tags reserved prefix", "ec2.tags", map[string]any{"th:requestId": "someone-else"}, false, "ec2.tags"},
	}
}

// BadRequest is the base request with c's field broken, as JSON.
func BadRequest(c BadCase) []byte {
	m := BadBase()
	switch c.Name {
	case "ecs and ec2 missing":
		delete(m, "ecs")
		delete(m, "ec2")
		c.Field = "ecs, ec2"
	case "ecs capacity provider weight out of range":
		Set(m, "ecs.launchType", nil, true)
		Set(m, "ecs.capacityProviderStrategy", []any{map[string]any{"capacityProvider": "FARGATE", "weight": 1001}}, false)
	default:
		Set(m, c.Path, c.Value, c.Del)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // maps of JSON values always marshal
	}
	return b
}

// WantField is the field the error for c must name.
func WantField(c BadCase) string {
	switch c.Name {
	case "ecs and ec2 missing":
		return "ecs, ec2"
	case "ecs capacity provider weight out of range":
		return "ecs.capacityProviderStrategy[0].weight"
	}
	return c.Field
}
