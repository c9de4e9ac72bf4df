package events

import (
	"net/http"
	"slices"
	"strings"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
)

// ruleDoc is a rule as DescribeRule and ListRules answer it. Rules here are
// always ENABLED: nothing disables them.
func (s *Service) ruleDoc(r *Rule) map[string]any {
	return map[string]any{
		"Name": r.Name, "Arn": s.RuleARN(r), "EventPattern": string(r.Pattern), "State": "ENABLED",
		"Description": r.Description, "EventBusName": r.Bus,
	}
}

// targetDoc is a target as ListTargetsByRule answers it.
func (s *Service) targetDoc(t Target) map[string]any {
	d := map[string]any{"Id": t.ID, "Arn": t.ARN}
	if t.RetryPolicy != nil {
		d["RetryPolicy"] = map[string]int{
			"MaximumRetryAttempts": t.RetryPolicy.MaximumRetryAttempts, "MaximumEventAgeInSeconds": int(t.RetryPolicy.MaximumEventAge.Seconds()),
		}
	}
	if t.DeadLetterQueue != "" {
		d["DeadLetterConfig"] = map[string]string{"Arn": t.DeadLetterQueue}
	}
	return d
}

// rulesOf returns the rules of a bus, by name, or ResourceNotFoundException.
func (s *Service) rulesOf(ref string) ([]*Rule, error) {
	name := busName(ref)
	s.mu.Lock()
	b, ok := s.buses[name]
	s.mu.Unlock()
	if !ok {
		return nil, awsjson.Errorf(400, "ResourceNotFoundException", "Event bus %s does not exist.", name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*Rule
	for _, r := range b.rules {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Rule) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// rule returns one rule of a bus, or ResourceNotFoundException as
// EventBridge words it.
func (s *Service) rule(ref, name string) (*Rule, error) {
	rules, err := s.rulesOf(ref)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, awsjson.Errorf(400, "ResourceNotFoundException", "Rule %s does not exist on EventBus %s.", name, busName(ref))
}

// serveRead answers the read operations DescribeEventBus, ListRules,
// DescribeRule and ListTargetsByRule (one page each: a bus holds a handful
// of rules here); false for another operation.
func (s *Service) serveRead(w http.ResponseWriter, r *http.Request, op string) bool {
	var in struct {
		Name, EventBusName, NamePrefix, Rule string
	}
	switch op {
	case "DescribeEventBus", "ListRules", "DescribeRule", "ListTargetsByRule":
	default:
		return false
	}
	if err := awsjson.Decode(r, &in, "SerializationException"); err != nil {
		awsjson.WriteError(w, contentType, err)
		return true
	}
	out, err := s.read(op, in.Name, in.EventBusName, in.NamePrefix, in.Rule)
	if err != nil {
		awsjson.WriteError(w, contentType, err)
		return true
	}
	awsjson.Write(w, contentType, out)
	return true
}

func (s *Service) read(op, name, bus, prefix, rule string) (any, error) {
	switch op {
	case "DescribeEventBus":
		if _, err := s.rulesOf(name); err != nil {
			return nil, err
		}
		return map[string]string{"Name": busName(name), "Arn": s.BusARN(busName(name))}, nil
	case "ListRules":
		rules, err := s.rulesOf(bus)
		if err != nil {
			return nil, err
		}
		docs := []map[string]any{}
		for _, r := range rules {
			if strings.HasPrefix(r.Name, prefix) {
				docs = append(docs, s.ruleDoc(r))
			}
		}
		return map[string]any{"Rules": docs}, nil
	case "DescribeRule":
		r, err := s.rule(bus, name)
		if err != nil {
			return nil, err
		}
		return s.ruleDoc(r), nil
	default: // ListTargetsByRule
		r, err := s.rule(bus, rule)
		if err != nil {
			return nil, err
		}
		docs := []map[string]any{}
		for _, t := range r.Targets {
			docs = append(docs, s.targetDoc(t))
		}
		return map[string]any{"Targets": docs}, nil
	}
}
