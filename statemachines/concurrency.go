package statemachines

import (
	"encoding/json"
	"fmt"
)

// LaunchConcurrency is the MaxConcurrency of the launch machine's Chunks
// Map as shipped in launch.asl.json: the local stack, the demo and the
// bench run at it unless told otherwise, and the CDK setting
// maxConcurrency replaces it. The definition is embedded, so a file
// without it is a build defect (TestLaunchConcurrency), not a runtime case.
func LaunchConcurrency() int {
	b, err := Raw(Launch)
	if err != nil {
		panic(err)
	}
	var def struct {
		States map[string]struct{ MaxConcurrency int }
	}
	if err := json.Unmarshal(b, &def); err != nil || def.States["Chunks"].MaxConcurrency < 1 {
		panic(fmt.Sprintf("statemachines: launch.asl.json: no Chunks MaxConcurrency (%v)", err))
	}
	return def.States["Chunks"].MaxConcurrency
}
