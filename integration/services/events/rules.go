package events

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/throttle-handler/throttle-handler/statemachines"
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
	// ARN is a Lambda function ARN (arn:aws:lambda:…:function:name), a
	// state machine ARN (arn:aws:states:…:stateMachine:name) or an SQS
	// queue ARN (arn:aws:sqs:…:name), which gets the event as its body.
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

// LoadRules reads the rule files of dir (statemachines.ParseRule). Bus
// "product" becomes productBus, "default" the default bus. A rule's target
// is the function's Lambda ARN of the given region and account, or, for
// "via": "relaunch-queue", relaunchQueue (an SQS queue ARN); dlq is every
// target's dead-letter queue, and its RetryPolicy is the one the CDK stack
// gives the rule's bus (StackRetryPolicy). A rule is named after its file.
func LoadRules(dir, productBus, region, account, dlq, relaunchQueue string) ([]Rule, error) {
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
		rf, err := statemachines.ParseRule(f, b)
		if err != nil {
			return nil, err
		}
		bus := DefaultBus
		if rf.Bus == statemachines.BusProduct {
			bus = productBus
		}
		arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, account, rf.Target)
		if rf.Via == statemachines.ViaRelaunchQueue {
			if !strings.HasPrefix(relaunchQueue, "arn:aws:sqs:") {
				return nil, fmt.Errorf("%s: via %s: no relaunch queue ARN given (got %q)", f, rf.Via, relaunchQueue)
			}
			arn = relaunchQueue
		}
		rules = append(rules, Rule{
			Name: rf.Name, Bus: bus, Description: rf.Description, Pattern: rf.Pattern,
			Targets: []Target{{ARN: arn, DeadLetterQueue: dlq, RetryPolicy: StackRetryPolicy(rf.Bus)}},
		})
	}
	return rules, nil
}

// StackRetryPolicy is the target RetryPolicy the CDK stack sets on a rule
// file's targets (infra/cdk/stack addRules; the rule files carry none):
// EventBridge's defaults (nil) for product requests, which must not be
// lost; 8 attempts within an hour for AWS service events on the default
// bus, signals that are stale after that.
func StackRetryPolicy(fileBus string) *RetryPolicy {
	if fileBus == statemachines.BusProduct {
		return nil
	}
	return &RetryPolicy{MaximumRetryAttempts: 8, MaximumEventAge: time.Hour}
}
