package launch_test

import (
	"encoding/json"
	"errors"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestBadInputCatalogue: each broken field gives a *ValidationError whose
// problems name that field, and the base request is valid (so the field
// is what broke it).
func TestBadInputCatalogue(t *testing.T) {
	t.Parallel()
	if _, err := launch.ParseRequest(mustJSON(t, launchtest.BadBase())); err != nil {
		t.Fatalf("the catalogue's base request is invalid: %v", err)
	}
	for _, c := range launchtest.BadCatalogue() {
		t.Run(c.Name, func(t *testing.T) {
			_, err := launch.ParseRequest(launchtest.BadRequest(c))
			var v *launch.ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("ParseRequest: %v, want a *ValidationError", err)
			}
			field := launchtest.WantField(c)
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
	manyEmpty := make([]any, 20_000) // {} each: 60 KB, within the inline limit
	for i := range manyEmpty {
		manyEmpty[i] = map[string]any{}
	}
	for name, tc := range map[string]struct {
		mutate func(m map[string]any)
		field  string
	}{
		"tag key":        {func(m map[string]any) { launchtest.Set(m, "ecs.tags", map[string]any{huge + " #": "v"}, false) }, "ecs.tags: key"},
		"tag key, value": {func(m map[string]any) { launchtest.Set(m, "ecs.tags", map[string]any{"é" + huge: huge}, false) }, "ecs.tags[é"},
		"instance type":  {func(m map[string]any) { launchtest.Set(m, "ec2.instanceTypes", []any{huge + " "}, false) }, "ec2.instanceTypes[0]"},
		"instance types": {func(m map[string]any) { launchtest.Set(m, "ec2.instanceTypes", many, false) }, "ec2.instanceTypes"},
		"subnet id":      {func(m map[string]any) { launchtest.Set(m, "ec2.subnetIds", []any{huge}, false) }, "ec2.subnetIds[0]"},
		"launch type":    {func(m map[string]any) { launchtest.Set(m, "ecs.launchType", huge, false) }, "ecs.launchType"},
		"market":         {func(m map[string]any) { launchtest.Set(m, "ec2.market", huge, false) }, "ec2.market"},
		"request id":     {func(m map[string]any) { m["requestId"] = huge }, "requestId"},
		"unknown field":  {func(m map[string]any) { m[huge] = 1 }, "unknown field"},
		"wrong type":     {func(m map[string]any) { launchtest.Set(m, "ecs.count", huge, false) }, "ecs.count"},
		"items without containers": {func(m map[string]any) {
			launchtest.Set(m, "ecs.items", manyEmpty, false)
			launchtest.Set(m, "ecs.overrides", nil, true)
		}, "ecs.items[0]: names no container"},
		"retry pattern": {func(m map[string]any) {
			launchtest.Set(m, "retryStrategy", map[string]any{"attempts": 2, "evaluateOnExit": []any{map[string]any{"onReason": huge[:400] + "!", "action": "EXIT"}}}, false)
		}, "retryStrategy.evaluateOnExit[0].onReason"},
		"retry action": {func(m map[string]any) {
			launchtest.Set(m, "retryStrategy", map[string]any{"attempts": 2, "evaluateOnExit": []any{map[string]any{"action": huge}}}, false)
		}, "action"},
		"waitFor": {func(m map[string]any) { launchtest.Set(m, "ec2.waitFor", huge, false) }, "ec2.waitFor"},
		"itemsFrom": {func(m map[string]any) {
			launchtest.Set(m, "ecs.itemsFrom", map[string]any{"bucket": huge, "key": huge}, false)
		}, "ecs.itemsFrom.bucket"},
		"assignPublicIp": {func(m map[string]any) {
			launchtest.Set(m, "ecs.networkConfiguration.awsvpcConfiguration.assignPublicIp", huge, false)
		}, "assignPublicIp"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := launchtest.BadBase()
			tc.mutate(m)
			_, err := launch.ParseRequest(mustJSON(t, m))
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
