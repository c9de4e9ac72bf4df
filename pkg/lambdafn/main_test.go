package lambdafn

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// TestMainRequires pins what each main requires at start: the variables
// its config.Load named before the mains became lambdafn.Main. With just
// those set the handler builds; without any one of them the start fails
// naming it.
func TestMainRequires(t *testing.T) {
	t.Parallel()
	values := map[string]string{
		config.EnvTable:            "t",
		config.EnvEventBus:         "b",
		config.EnvDLQURL:           "http://127.0.0.1:1/000000000000/dlq",
		config.EnvRelaunchQueueURL: "http://127.0.0.1:1/000000000000/relaunch",
		config.EnvStateMachineARN:  "arn:aws:states:us-east-1:000000000000:stateMachine:launch",
	}
	tests := map[string][]string{
		"classify": nil,
		"plan":     {config.EnvTable},
		"runtask":  {config.EnvTable},
		"retry":    {config.EnvTable, config.EnvEventBus, config.EnvDLQURL, config.EnvRelaunchQueueURL},
		"submit":   {config.EnvStateMachineARN},
		"summary":  {config.EnvTable, config.EnvEventBus},
	}
	if got := slices.Sorted(maps.Keys(tests)); !slices.Equal(got, Names()) {
		t.Fatalf("table covers %v, registry has %v", got, Names())
	}
	for name, required := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{config.EnvRegion: "us-east-1"}
			for _, v := range required {
				env[v] = values[v]
			}
			if _, err := mainHandler(t.Context(), name, config.FromMap(env), nil); err != nil {
				t.Fatalf("with %v set: %v", required, err)
			}
			for _, v := range required {
				less := maps.Clone(env)
				delete(less, v)
				_, err := mainHandler(t.Context(), name, config.FromMap(less), nil)
				if err == nil || !strings.Contains(err.Error(), v) {
					t.Errorf("without %s: got %v, want an error naming it", v, err)
				}
			}
		})
	}
	if _, err := mainHandler(t.Context(), "clasify", config.FromMap(nil), nil); err == nil || !strings.Contains(err.Error(), `unknown function "clasify"`) {
		t.Errorf("unknown function: got %v", err)
	}
	if _, err := mainHandler(t.Context(), "classify", config.FromMap(map[string]string{config.EnvLogLevel: "loud"}), nil); err == nil || !strings.Contains(err.Error(), config.EnvLogLevel) {
		t.Errorf("bad %s: got %v, want an error naming it", config.EnvLogLevel, err)
	}
}
