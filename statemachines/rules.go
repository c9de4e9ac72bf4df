package statemachines

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

//go:embed rules/*.json
var ruleFiles embed.FS

// ViaRelaunchQueue is the one value of a rule file's "via": the rule sends
// its events to the relaunch queue, which the target function consumes
// (an SQS event source, 10 receives before the queue's redrive), rather
// than invoking the function asynchronously (3 attempts, then the event
// DLQ). Events that must not be lost to a crashing function go this way.
const ViaRelaunchQueue = "relaunch-queue"

// Bus names a rule file's "bus".
const (
	BusProduct = "product" // the product's own bus (TH_EVENT_BUS_NAME)
	BusDefault = "default" // the account's default bus, where AWS service events arrive
)

// Rule is one file of statemachines/rules: an EventBridge rule that the CDK
// stack and the local EventBridge (quamina) both create from the same data.
type Rule struct {
	// Name is the file name without .json, e.g. launch-requested.
	Name string `json:"-"`
	// Bus is BusProduct or BusDefault.
	Bus string `json:"bus"`
	// Target is the function (pkg/lambdafn name) the rule invokes.
	Target string `json:"target"`
	// Via is "" (the rule invokes Target) or ViaRelaunchQueue.
	Via         string `json:"via,omitempty"`
	Description string `json:"description"`
	// Pattern is the EventBridge event pattern, verbatim.
	Pattern json.RawMessage `json:"pattern"`
}

// Rules decodes every rule file, in file-name order. An error names the
// file and the field that is wrong.
func Rules() ([]Rule, error) {
	files, err := fs.Glob(ruleFiles, "rules/*.json")
	if err != nil {
		return nil, err
	}
	rules := make([]Rule, 0, len(files))
	for _, f := range files {
		b, err := ruleFiles.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r, err := ParseRule(f, b)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// ParseRule decodes the rule file at path (its name without .json names
// the rule) and checks its fields; the local EventBridge loads its rules
// from a directory with it.
func ParseRule(path string, b []byte) (Rule, error) {
	var r Rule
	if err := json.Unmarshal(b, &r); err != nil {
		return Rule{}, fmt.Errorf("statemachines: %s: %w", path, err)
	}
	r.Name = strings.TrimSuffix(filepath.Base(path), ".json")
	switch {
	case r.Bus != BusProduct && r.Bus != BusDefault:
		return Rule{}, fmt.Errorf("statemachines: %s: bus: want %q or %q, got %q", path, BusProduct, BusDefault, r.Bus)
	case r.Target == "":
		return Rule{}, fmt.Errorf("statemachines: %s: target: required", path)
	case r.Via != "" && r.Via != ViaRelaunchQueue:
		return Rule{}, fmt.Errorf("statemachines: %s: via: want %q or nothing, got %q", path, ViaRelaunchQueue, r.Via)
	case r.Via == ViaRelaunchQueue && r.Target != "retry":
		return Rule{}, fmt.Errorf("statemachines: %s: via: the relaunch queue is consumed by retry, not %q", path, r.Target)
	case len(r.Pattern) == 0 || r.Pattern[0] != '{':
		return Rule{}, fmt.Errorf("statemachines: %s: pattern: must be a JSON object", path)
	}
	return r, nil
}
