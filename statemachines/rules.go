package statemachines

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
)

//go:embed rules/*.json
var ruleFiles embed.FS

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
	Target      string `json:"target"`
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
		var r Rule
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("statemachines: %s: %w", f, err)
		}
		r.Name = strings.TrimSuffix(strings.TrimPrefix(f, "rules/"), ".json")
		switch {
		case r.Bus != BusProduct && r.Bus != BusDefault:
			return nil, fmt.Errorf("statemachines: %s: bus: want %q or %q, got %q", f, BusProduct, BusDefault, r.Bus)
		case r.Target == "":
			return nil, fmt.Errorf("statemachines: %s: target: required", f)
		case len(r.Pattern) == 0 || r.Pattern[0] != '{':
			return nil, fmt.Errorf("statemachines: %s: pattern: must be a JSON object", f)
		}
		rules = append(rules, r)
	}
	return rules, nil
}
