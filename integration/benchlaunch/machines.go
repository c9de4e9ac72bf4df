package benchlaunch

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/throttle-handler/throttle-handler/integration/services/sfn"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
)

// machineOf names the state machine (file name without .asl.json) each
// strategy starts.
var machineOf = map[string]string{Ours: "launch", Naive: "naive", ASLJitter: "asl-jitter", SDKAdaptive: "sdk-adaptive"}

// machinesDir writes a directory for the local Step Functions: the
// strategy's machine (the product's launch machine and its rules for ours,
// the baseline file otherwise) with every Map's MaxConcurrency set to c.
// Baselines get no rules: the product's event rules would relaunch their
// failed tasks. The caller removes the directory.
func machinesDir(strategy string, c int) (string, error) {
	root := filepath.Join(testenv.RepoRoot(), "statemachines")
	src := filepath.Join(root, "baselines", machineOf[strategy]+".asl.json")
	if strategy == Ours {
		src = filepath.Join(root, "launch.asl.json")
	}
	dst, err := os.MkdirTemp("", "bench-launch-machines-")
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		_ = os.RemoveAll(dst)
		return "", err
	}
	if err := copyMachine(src, filepath.Join(dst, filepath.Base(src)), c); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(filepath.Join(dst, "rules"), 0o755); err != nil {
		return fail(err)
	}
	if strategy == Ours {
		rules, _ := filepath.Glob(filepath.Join(root, "rules", "*.json"))
		for _, f := range rules {
			b, err := os.ReadFile(f)
			if err != nil {
				return fail(err)
			}
			if err := os.WriteFile(filepath.Join(dst, "rules", filepath.Base(f)), b, 0o644); err != nil {
				return fail(err)
			}
		}
	}
	return dst, nil
}

func copyMachine(src, dst string, c int) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	out, err := sfn.WithMaxConcurrency(b, c)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	return os.WriteFile(dst, out, 0o644)
}
