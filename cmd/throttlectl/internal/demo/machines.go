package demo

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// withConcurrency copies the state machine directory src (its *.asl.json
// and rules/*.json) to a new temporary directory with every Map state's
// MaxConcurrency set to c, and returns it. The caller removes it.
func withConcurrency(src string, c int) (string, error) {
	dst, err := os.MkdirTemp("", "throttlectl-demo-machines-")
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		_ = os.RemoveAll(dst)
		return "", err
	}
	files, err := filepath.Glob(filepath.Join(src, "*.asl.json"))
	if err != nil || len(files) == 0 {
		return fail(fmt.Errorf("no *.asl.json in %s", src))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fail(err)
		}
		var def any
		if err := json.Unmarshal(b, &def); err != nil {
			return fail(fmt.Errorf("%s: %w", f, err))
		}
		setMapConcurrency(def, c)
		out, _ := json.MarshalIndent(def, "", "  ")
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), out, 0o644); err != nil {
			return fail(err)
		}
	}
	rules, _ := filepath.Glob(filepath.Join(src, "rules", "*.json"))
	if err := os.MkdirAll(filepath.Join(dst, "rules"), 0o755); err != nil {
		return fail(err)
	}
	for _, f := range rules {
		b, err := os.ReadFile(f)
		if err != nil {
			return fail(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "rules", filepath.Base(f)), b, 0o644); err != nil {
			return fail(err)
		}
	}
	return dst, nil
}

// setMapConcurrency sets MaxConcurrency on every Map state in a definition,
// nested ones included.
func setMapConcurrency(v any, c int) {
	switch x := v.(type) {
	case map[string]any:
		if t, _ := x["Type"].(string); strings.EqualFold(t, "Map") {
			x["MaxConcurrency"] = c
		}
		for _, child := range x {
			setMapConcurrency(child, c)
		}
	case []any:
		for _, child := range x {
			setMapConcurrency(child, c)
		}
	}
}
