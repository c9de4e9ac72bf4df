package launch

import (
	"strings"
	"testing"
)

func TestPriority(t *testing.T) {
	for _, tc := range []struct {
		priority, lane, problem string
	}{
		{"", PriorityNormal, ""},
		{"high", PriorityHigh, ""},
		{"normal", PriorityNormal, ""},
		{"low", PriorityLow, ""},
		{"urgent", "", `priority: must be high, normal or low, got "urgent"`},
		{"HIGH", "", `priority: must be high, normal or low, got "HIGH"`},
	} {
		r := Request{RequestID: "r1", Priority: tc.priority, ECS: &ECSSpec{Cluster: "c", TaskDefinition: "td", Count: 1, LaunchType: "EC2"}}
		err := r.Validate()
		switch {
		case tc.problem == "" && err != nil:
			t.Errorf("priority %q: unexpected error %v", tc.priority, err)
		case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
			t.Errorf("priority %q: error %v, want one containing %q", tc.priority, err, tc.problem)
		case tc.problem == "" && r.Lane() != tc.lane:
			t.Errorf("priority %q: lane %q, want %q", tc.priority, r.Lane(), tc.lane)
		}
	}
}
