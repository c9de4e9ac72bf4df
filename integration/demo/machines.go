package demo

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/throttle-handler/throttle-handler/integration/services/sfn"
	"github.com/throttle-handler/throttle-handler/statemachines"
)

// machinesDir writes the state machines the binary embeds (package
// statemachines: every *.asl.json and rules/*.json) to a new temporary
// directory, with every Map state's MaxConcurrency set to c, and returns
// it: the local Step Functions and EventBridge load a directory. The
// demo reads no file of the source tree. The caller removes the directory.
func machinesDir(c int) (string, error) {
	dst, err := os.MkdirTemp("", "th-demo-machines-")
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		_ = os.RemoveAll(dst)
		return "", err
	}
	names := statemachines.Names()
	if len(names) == 0 {
		return fail(fmt.Errorf("package statemachines embeds no definition"))
	}
	for _, name := range names {
		b, err := statemachines.Raw(name)
		if err != nil {
			return fail(err)
		}
		out, err := sfn.WithMaxConcurrency(b, c)
		if err != nil {
			return fail(fmt.Errorf("%s.asl.json: %w", name, err))
		}
		if err := os.WriteFile(filepath.Join(dst, name+".asl.json"), out, 0o644); err != nil {
			return fail(err)
		}
	}
	rules, err := statemachines.Rules()
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(filepath.Join(dst, "rules"), 0o755); err != nil {
		return fail(err)
	}
	for _, r := range rules {
		// Rule's fields carry the file's JSON names; Name is the file name.
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return fail(fmt.Errorf("rule %s: %w", r.Name, err))
		}
		if err := os.WriteFile(filepath.Join(dst, "rules", r.Name+".json"), b, 0o644); err != nil {
			return fail(err)
		}
	}
	return dst, nil
}
