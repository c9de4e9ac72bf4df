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
	return append([]BadCase{
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
	}, v2Catalogue()...)
}

// v2Catalogue breaks the version-2 (jobs) fields.
func v2Catalogue() []BadCase {
	item := func(cmd string) any {
		return map[string]any{"containerOverrides": []any{map[string]any{"name": "main", "command": []any{cmd}}}}
	}
	rule := func(k, v string) any { return []any{map[string]any{k: v, "action": "EXIT"}} }
	return []BadCase{
		{"version 1 with a version-2 field", "waitForCompletion", true, false, "version"}, // + version 1 below
		{"waitForCompletion wrong type", "waitForCompletion", "yes", false, "request"},
		{"ecs.items wrong type", "ecs.items", "all", false, "request"},
		{"ecs.items count disagrees", "ecs.items", many(2, func(int) any { return item("run") }), false, "ecs.count"},
		{"ecs.items empty", "ecs.items", []any{}, false, "ecs.items"},
		{"ecs.items item oversized", "ecs.items", many(2, func(int) any { return item(strings.Repeat("y", 9000)) }), false, "ecs.items[0]"},
		{"ecs.items over 200 KB", "ecs.items", many(30, func(int) any { return item(strings.Repeat("y", 7000)) }), false, "ecs.items"},
		{"ecs.items item container without name", "ecs.items", many(25, func(int) any {
			return map[string]any{"containerOverrides": []any{map[string]any{"command": []any{"x"}}}}
		}), false, "ecs.items[0].containerOverrides[0].name"},
		{"ecs.items with ecs.itemsFrom", "ecs.itemsFrom", map[string]any{"bucket": "inputs", "key": "k"}, false, "ecs.items"}, // + items below
		{"ecs.itemsFrom wrong type", "ecs.itemsFrom", "s3://inputs/k", false, "request"},
		{"ecs.itemsFrom bucket malformed", "ecs.itemsFrom", map[string]any{"bucket": "Inputs_1", "key": "k"}, false, "ecs.itemsFrom.bucket"},
		{"ecs.itemsFrom bucket an IP address", "ecs.itemsFrom", map[string]any{"bucket": "10.0.0.1", "key": "k"}, false, "ecs.itemsFrom.bucket"},
		{"ecs.itemsFrom key empty", "ecs.itemsFrom", map[string]any{"bucket": "inputs"}, false, "ecs.itemsFrom.key"},
		{"ecs.itemsFrom key oversized", "ecs.itemsFrom", map[string]any{"bucket": "inputs", "key": strings.Repeat("k", 1025)}, false, "ecs.itemsFrom.key"},
		{"ecs.itemContainer without items", "ecs.itemContainer", "main", false, "ecs.itemContainer"},
		{"retryStrategy wrong type", "retryStrategy", 3, false, "request"},
		{"retryStrategy.attempts zero", "retryStrategy", map[string]any{"attempts": 0}, false, "retryStrategy.attempts"},
		{"retryStrategy.attempts above 10", "retryStrategy", map[string]any{"attempts": 11}, false, "retryStrategy.attempts"},
		{"retryStrategy without waitForCompletion", "retryStrategy", map[string]any{"attempts": 2}, false, "retryStrategy"},
		{"retryStrategy.evaluateOnExit too many", "retryStrategy", map[string]any{"attempts": 2, "evaluateOnExit": many(6, func(int) any { return map[string]any{"action": "EXIT"} })}, false, "retryStrategy.evaluateOnExit"},
		{"onExitCode star inside", "retryStrategy", map[string]any{"attempts": 2, "evaluateOnExit": rule("onExitCode", "1*3")}, false, "retryStrategy.evaluateOnExit[0].onExitCode"},
		{"onReason bad character", "retryStrategy", map[string]any{"attempts": 2, "evaluateOnExit": rule("onReason", "Error!")}, false, "retryStrategy.evaluateOnExit[0].onReason"},
		{"onStatusReason oversized", "retryStrategy", map[string]any{"attempts": 2, "evaluateOnExit": rule("onStatusReason", strings.Repeat("a", 513))}, false, "retryStrategy.evaluateOnExit[0].onStatusReason"},
		{"evaluateOnExit action unknown", "retryStrategy", map[string]any{"attempts": 2, "evaluateOnExit": []any{map[string]any{"onExitCode": "1", "action": "IGNORE"}}}, false, "retryStrategy.evaluateOnExit[0].action"},
		{"timeout below 60", "timeout", map[string]any{"attemptDurationSeconds": 59}, false, "timeout.attemptDurationSeconds"},
		{"timeout beyond the deadline", "timeout", map[string]any{"attemptDurationSeconds": 601}, false, "timeout.attemptDurationSeconds"},
		{"toleratedFailurePercentage above 100", "toleratedFailurePercentage", 101, false, "toleratedFailurePercentage"},
		{"toleratedFailurePercentage negative", "toleratedFailurePercentage", -0.5, false, "toleratedFailurePercentage"},
		{"toleratedFailurePercentage wrong type", "toleratedFailurePercentage", "10%", false, "request"},
		{"toleratedFailureCount negative", "toleratedFailureCount", -1, false, "toleratedFailureCount"},
		{"toleratedFailureCount fraction", "toleratedFailureCount", 1.5, false, "request"},
		{"ec2.waitFor unknown", "ec2.waitFor", "stopped", false, "ec2.waitFor"},
		{"callback.taskToken missing", "callback", map[string]any{"heartbeatSeconds": 60}, false, "callback.taskToken"},
		{"callback.taskToken empty", "callback", map[string]any{"taskToken": ""}, false, "callback.taskToken"},
		{"callback.taskToken oversized", "callback", map[string]any{"taskToken": strings.Repeat("t", launch.MaxTaskTokenLen+1)}, false, "callback.taskToken"},
		{"callback.taskToken wrong type", "callback", map[string]any{"taskToken": 7}, false, "request"},
		{"callback.heartbeatSeconds below 60", "callback", map[string]any{"taskToken": "t", "heartbeatSeconds": 59}, false, "callback.heartbeatSeconds"},
		{"callback.heartbeatSeconds beyond the deadline", "callback", map[string]any{"taskToken": "t", "heartbeatSeconds": 601}, false, "callback.heartbeatSeconds"},
		{"callback.heartbeatSeconds negative", "callback", map[string]any{"taskToken": "t", "heartbeatSeconds": -60}, false, "callback.heartbeatSeconds"},
		{"callback unknown field", "callback", map[string]any{"taskToken": "t", "heartbeat": 60}, false, "request"},
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
	case "version 1 with a version-2 field":
		m["version"] = 1
		Set(m, c.Path, c.Value, c.Del)
	case "ecs.items with ecs.itemsFrom":
		Set(m, "ecs.items", []any{map[string]any{}}, false)
		Set(m, c.Path, c.Value, c.Del)
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
