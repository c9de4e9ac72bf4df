package benchlaunch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The bench's default concurrency is the launch machine's, so `bench
// launch` measures the product as deployed.
func TestDefaultConcurrencyIsTheMachines(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "statemachines", "launch.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	var def struct {
		States map[string]struct {
			Type           string
			MaxConcurrency int
		}
	}
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatal(err)
	}
	if got := def.States["Chunks"].MaxConcurrency; got != DefaultConcurrency {
		t.Errorf("launch.asl.json Chunks MaxConcurrency %d, DefaultConcurrency %d: keep them equal", got, DefaultConcurrency)
	}
}
