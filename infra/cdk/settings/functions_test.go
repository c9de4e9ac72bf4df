package settings

import (
	"maps"
	"testing"
	"time"
)

// The table's timeouts must be ones Lambda accepts (AWS Lambda Developer
// Guide: Configuring Lambda function timeout — 1 to 900 seconds) and its
// memory sizes ones it allocates (Configuring Lambda function memory — 128
// to 10,240 MB).
func TestFunctionsWithinLambdaLimits(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, f := range Functions {
		if f.Timeout < time.Second || f.Timeout > 900*time.Second || f.Timeout%time.Second != 0 {
			t.Errorf("%s: timeout %v, want whole seconds in [1 s, 900 s]", f.Name, f.Timeout)
		}
		if f.MemoryMB < 128 || f.MemoryMB > 10240 {
			t.Errorf("%s: memory %d MB, want [128, 10240]", f.Name, f.MemoryMB)
		}
		if seen[f.Name] || f.Name == "" || f.ID == "" {
			t.Errorf("%q: duplicate or unnamed", f.Name)
		}
		seen[f.Name] = true
		if g, ok := FunctionByName(f.Name); !ok || g != f {
			t.Errorf("FunctionByName(%q) = %+v, %v", f.Name, g, ok)
		}
	}
	if _, ok := FunctionByName("nope"); ok {
		t.Error("FunctionByName(nope) found a function")
	}
}

func TestReservedConcurrency(t *testing.T) {
	t.Parallel()
	n := func(v int) *int { return &v }
	tests := map[string]struct {
		s    Settings
		want map[string]int
	}{
		"defaults":        {Settings{}, map[string]int{"runtask": DefaultRunTaskConcurrency, "retry": DefaultRetryConcurrency}},
		"set":             {Settings{RunTaskConcurrency: n(50), RetryConcurrency: n(5)}, map[string]int{"runtask": 50, "retry": 5}},
		"zero unreserves": {Settings{RunTaskConcurrency: n(0)}, map[string]int{"retry": DefaultRetryConcurrency}},
	}
	for name, tc := range tests {
		if got := tc.s.ReservedConcurrency(); !maps.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
}
