package events

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultBus is the name of the account's default event bus.
const DefaultBus = "default"

// RetryPolicy bounds the redelivery of a failed event to a target.
type RetryPolicy struct {
	// MaximumRetryAttempts is 0–185 (default 185 when the policy is nil).
	MaximumRetryAttempts int
	// MaximumEventAge is 60 s–24 h, simulated (default 24 h).
	MaximumEventAge time.Duration
}

// Target is where a rule sends matching events.
type Target struct {
	// ID names the target within its rule (default: "Target0", …).
	ID string
	// ARN is a Lambda function ARN (arn:aws:lambda:…:function:name) or a
	// state machine ARN (arn:aws:states:…:stateMachine:name).
	ARN string
	// RetryPolicy, nil for AWS's defaults.
	RetryPolicy *RetryPolicy
	// DeadLetterQueue is the SQS queue (URL, ARN or name) for events that
	// could not be delivered; empty drops them.
	DeadLetterQueue string
}

// Rule matches events on one bus.
type Rule struct {
	Name        string
	Bus         string // DefaultBus or a named bus
	Description string
	Pattern     json.RawMessage
	Targets     []Target
}

// ruleFile is the shape of statemachines/rules/*.json (docs/contracts.md).
type ruleFile struct {
	Bus         string          `json:"bus"`
	Target      string          `json:"target"`
	Description string          `json:"description"`
	Pattern     json.RawMessage `json:"pattern"`
}

// LoadRules reads the rule files of dir. Bus "product" becomes productBus,
// "default" the default bus; the target function becomes a Lambda target of
// the given region and account with dlq as its dead-letter queue. A rule is
// named after its file.
func LoadRules(dir, productBus, region, account, dlq string) ([]Rule, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var rules []Rule
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var rf ruleFile
		if err := json.Unmarshal(b, &rf); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		bus := DefaultBus
		switch rf.Bus {
		case "product":
			bus = productBus
		case "default":
		default:
			return nil, fmt.Errorf("%s: bus: want product or default, got %q", f, rf.Bus)
		}
		if rf.Target == "" {
			return nil, fmt.Errorf("%s: target: a function name is required", f)
		}
		if len(rf.Pattern) == 0 {
			return nil, fmt.Errorf("%s: pattern is required", f)
		}
		rules = append(rules, Rule{
			Name: strings.TrimSuffix(filepath.Base(f), ".json"), Bus: bus, Description: rf.Description, Pattern: rf.Pattern,
			Targets: []Target{{ARN: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, account, rf.Target), DeadLetterQueue: dlq}},
		})
	}
	return rules, nil
}
