package sfn

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Substitute replaces every ${Name} of an ASL definition with subs[Name]; a
// placeholder without a value is an error naming it.
func Substitute(def string, subs map[string]string) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(def, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := subs[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for definition substitution(s) %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Substitutions returns the local values of the ASL placeholders of
// docs/contracts.md for every name the definitions use: ${<X>FunctionArn} is
// the local ARN of function lower(X) (RunTask → runtask), ${<X>StateMachineArn}
// the ARN of machine lower(X), ${EventBusName} the product's bus. extra
// entries win.
func (s *Service) Substitutions(defs map[string]string, bus string, extra map[string]string) map[string]string {
	subs := map[string]string{"EventBusName": bus}
	for _, d := range defs {
		for _, m := range placeholder.FindAllStringSubmatch(d, -1) {
			name := m[1]
			switch {
			case strings.HasSuffix(name, "FunctionArn") && len(name) > len("FunctionArn"):
				subs[name] = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", s.o.Region, s.o.Account,
					strings.ToLower(strings.TrimSuffix(name, "FunctionArn")))
			case strings.HasSuffix(name, "StateMachineArn") && len(name) > len("StateMachineArn"):
				subs[name] = s.MachineARN(strings.ToLower(strings.TrimSuffix(name, "StateMachineArn")))
			}
		}
	}
	for k, v := range extra {
		subs[k] = v
	}
	return subs
}

// WithMaxConcurrency returns the ASL definition def with MaxConcurrency
// set to c on every Map state, nested ones included, re-encoded with
// two-space indentation (placeholders are kept). The demo and the launch
// benchmark run the product's machine at other concurrencies with it.
func WithMaxConcurrency(def []byte, c int) ([]byte, error) {
	var v any
	if err := json.Unmarshal(def, &v); err != nil {
		return nil, fmt.Errorf("definition: %w", err)
	}
	setMapConcurrency(v, c)
	return json.MarshalIndent(v, "", "  ")
}

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

// ReadDir reads every *.asl.json of dir, keyed by machine name (the file
// name without .asl.json).
func ReadDir(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.asl.json"))
	if err != nil {
		return nil, err
	}
	defs := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		defs[strings.TrimSuffix(filepath.Base(f), ".asl.json")] = string(b)
	}
	return defs, nil
}

// LoadDir defines every *.asl.json of dir (see ReadDir) with the local
// substitutions (see Substitutions) plus extra, and returns the machines'
// ARNs by name.
func (s *Service) LoadDir(ctx context.Context, dir, bus string, extra map[string]string) (map[string]string, error) {
	defs, err := ReadDir(dir)
	if err != nil {
		return nil, err
	}
	subs := s.Substitutions(defs, bus, extra)
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	arns := map[string]string{}
	for _, n := range names {
		def, err := Substitute(defs[n], subs)
		if err != nil {
			return nil, fmt.Errorf("%s.asl.json: %w", n, err)
		}
		arn, err := s.Define(ctx, n, def)
		if err != nil {
			return nil, fmt.Errorf("%s.asl.json: %w", n, err)
		}
		arns[n] = arn
	}
	return arns, nil
}

// ValidName reports whether s is a valid execution or state machine name on
// AWS: 1–80 characters, no whitespace, brackets, wildcards, control
// characters or any of " # % \ ^ | ~ ` $ & , ; : /.
func ValidName(s string) bool {
	if s == "" || len([]rune(s)) > 80 {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", r) {
			return false
		}
	}
	return true
}
