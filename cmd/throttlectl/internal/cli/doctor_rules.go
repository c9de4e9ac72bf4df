package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/throttle-handler/throttle-handler/statemachines"
)

// checkRules checks, for every rule file of statemachines/rules, that its
// bus holds an enabled rule with the file's pattern that targets what the
// stack wires it to: the function (its deployed name when known, else any
// function) or, for "via": "relaunch-queue", the relaunch queue.
func (d *doctor) checkRules(ctx context.Context) []Check {
	files, err := statemachines.Rules()
	if err != nil {
		return []Check{{Name: "rules", Status: statusFail, Detail: err.Error()}}
	}
	var out []Check
	listed := map[string][]ebtypes.Rule{}
	for _, rf := range files {
		name := "rule " + rf.Name
		bus := "default"
		if rf.Bus == statemachines.BusProduct {
			if bus = d.t.bus; bus == "" {
				out = append(out, Check{Name: name, Status: statusSkipped, Detail: "product bus unknown"})
				continue
			}
		}
		rules, ok := listed[bus]
		if !ok {
			if rules, err = d.listRules(ctx, bus); err != nil {
				out = append(out, errCheck(name, "events:ListRules on "+bus, err, ""))
				continue
			}
			listed[bus] = rules
		}
		out = append(out, d.checkRule(ctx, name, bus, rf, rules))
	}
	return out
}

func (d *doctor) listRules(ctx context.Context, bus string) ([]ebtypes.Rule, error) {
	var all []ebtypes.Rule
	in := &eventbridge.ListRulesInput{EventBusName: aws.String(bus)}
	for {
		out, err := d.c.events.ListRules(ctx, in)
		if err != nil {
			return nil, err
		}
		all = append(all, out.Rules...)
		if out.NextToken == nil {
			return all, nil
		}
		in.NextToken = out.NextToken
	}
}

// checkRule finds the rule with rf's pattern among a bus's rules and
// checks its state and targets.
func (d *doctor) checkRule(ctx context.Context, name, bus string, rf statemachines.Rule, rules []ebtypes.Rule) Check {
	var rule *ebtypes.Rule
	for i := range rules {
		if samePattern(aws.ToString(rules[i].EventPattern), rf.Pattern) {
			rule = &rules[i]
			break
		}
	}
	if rule == nil {
		return Check{Name: name, Status: statusFail, Detail: fmt.Sprintf("no rule on bus %s has the pattern of statemachines/rules/%s.json", bus, rf.Name),
			Fix: "deploy this version of the stack (make deploy), which creates it"}
	}
	rn := aws.ToString(rule.Name)
	if rule.State != ebtypes.RuleStateEnabled {
		return Check{Name: name, Status: statusFail, Detail: fmt.Sprintf("rule %s on bus %s is %s", rn, bus, rule.State),
			Fix: fmt.Sprintf("aws events enable-rule --name %s --event-bus-name %s", rn, bus)}
	}
	out, err := d.c.events.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: rule.Name, EventBusName: aws.String(bus)})
	if err != nil {
		return errCheck(name, "events:ListTargetsByRule "+rn, err, "")
	}
	want, match := d.ruleTarget(rf)
	var got []string
	for _, t := range out.Targets {
		arn := aws.ToString(t.Arn)
		got = append(got, arn)
		if match(arn) {
			if rf.Via == "" && d.t.functions[rf.Target] == "" {
				d.t.functions[rf.Target] = arn // learnt: the function the rule invokes
			}
			return Check{Name: name, Status: statusPass, Detail: fmt.Sprintf("%s on %s ENABLED → %s", rn, bus, arn)}
		}
	}
	return Check{Name: name, Status: statusFail, Detail: fmt.Sprintf("rule %s on bus %s targets %v, not %s", rn, bus, got, want),
		Fix: "deploy the stack again (make deploy): the rule's target was changed or removed"}
}

// ruleTarget describes and matches the target a rule file asks for.
func (d *doctor) ruleTarget(rf statemachines.Rule) (string, func(string) bool) {
	if rf.Via == statemachines.ViaRelaunchQueue {
		if d.t.relaunchARN != "" {
			return "the relaunch queue " + d.t.relaunchARN, func(a string) bool { return a == d.t.relaunchARN }
		}
		return "an SQS queue", func(a string) bool { return strings.HasPrefix(a, "arn:aws:sqs:") || strings.Contains(a, ":sqs:") }
	}
	if fn := d.t.functions[rf.Target]; fn != "" {
		want := functionOf(fn)
		return "the " + rf.Target + " function " + fn, func(a string) bool { return strings.Contains(a, ":lambda:") && functionOf(a) == want }
	}
	return "a Lambda function (" + rf.Target + ")", func(a string) bool { return strings.Contains(a, ":lambda:") }
}

// functionOf is a function's name from a name or ARN.
func functionOf(s string) string {
	if parts := strings.Split(s, ":"); strings.HasPrefix(s, "arn:") && len(parts) >= 7 {
		return parts[6]
	}
	return s
}

// samePattern compares two event patterns as JSON values.
func samePattern(a string, b []byte) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
