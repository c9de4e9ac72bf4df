package stack

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/throttle-handler/throttle-handler/statemachines"
)

// Function names (docs/contracts.md), and the ASL placeholder of each.
var functionPlaceholders = map[string]string{
	"ClassifyFunctionArn": "classify",
	"PlanFunctionArn":     "plan",
	"RunTaskFunctionArn":  "runtask",
	"RetryFunctionArn":    "retry",
	"SummaryFunctionArn":  "summary",
	"SubmitFunctionArn":   "submit",
}

// EntryMachine is the state machine file submit and retry start executions
// of (TH_STATE_MACHINE_ARN).
const EntryMachine = "launch"

const busPlaceholder = "EventBusName"

// Task resources a definition may use; the stack grants exactly what each
// needs. Anything else fails synth rather than deploying a machine that
// fails at run time with AccessDenied.
const (
	resLambdaInvoke = "arn:aws:states:::lambda:invoke"
	resPutEvents    = "arn:aws:states:::events:putEvents"
	resStartExec    = "arn:aws:states:::states:startExecution"
)

var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// machineFile is what the stack needs to know about one
// statemachines/<stem>.asl.json: which substitutions it uses and which
// service integrations it calls, to grant its role exactly those.
type machineFile struct {
	Stem         string   // "launch"
	Path         string   // absolute path
	Functions    []string // function names referenced through ${…FunctionArn}
	Machines     []string // stems referenced through ${<Stem>StateMachineArn}
	UsesBus      bool     // ${EventBusName}
	Distributed  bool     // a Map with ProcessorConfig.Mode DISTRIBUTED starts child executions of this machine
	SyncChildren bool     // states:startExecution.sync: Step Functions polls children through a managed rule
}

// machinePlaceholder is the substitution name of a machine file's ARN:
// chunk.asl.json → ChunkStateMachineArn.
func machinePlaceholder(stem string) string {
	return strings.ToUpper(stem[:1]) + stem[1:] + "StateMachineArn"
}

var stemRE = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// loadMachines reads every *.asl.json in dir and returns them so that a
// machine comes after the machines it references. The entry machine must
// exist.
func loadMachines(dir string) ([]machineFile, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.asl.json"))
	if err != nil {
		return nil, err
	}
	stems := map[string]bool{}
	for _, p := range paths {
		stems[strings.TrimSuffix(filepath.Base(p), ".asl.json")] = true
	}
	if !stems[EntryMachine] {
		return nil, fmt.Errorf("stateMachineDir: %s: missing (the launch state machine)", filepath.Join(dir, EntryMachine+".asl.json"))
	}
	byPlaceholder := map[string]string{}
	for s := range stems {
		if !stemRE.MatchString(s) {
			return nil, fmt.Errorf("stateMachineDir: %s.asl.json: file name must be a lowerCamel word", s)
		}
		byPlaceholder[machinePlaceholder(s)] = s
	}
	var out []machineFile
	for _, p := range paths {
		m, err := scanMachine(p, byPlaceholder)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return orderMachines(out)
}

func scanMachine(path string, machines map[string]string) (machineFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return machineFile{}, fmt.Errorf("stateMachineDir: %w", err)
	}
	m := machineFile{Stem: strings.TrimSuffix(filepath.Base(path), ".asl.json"), Path: path}
	var def any
	if err := json.Unmarshal(b, &def); err != nil {
		return m, fmt.Errorf("stateMachineDir: %s: not JSON: %v", path, err)
	}
	for _, sub := range placeholderRE.FindAllStringSubmatch(string(b), -1) {
		name := sub[1]
		switch {
		case functionPlaceholders[name] != "":
			m.Functions = appendUnique(m.Functions, functionPlaceholders[name])
		case name == busPlaceholder:
			m.UsesBus = true
		case machines[name] != "":
			if machines[name] == m.Stem {
				return m, fmt.Errorf("stateMachineDir: %s: references its own ARN ${%s}; a DISTRIBUTED Map needs no reference to itself", path, name)
			}
			m.Machines = appendUnique(m.Machines, machines[name])
		default:
			return m, fmt.Errorf("stateMachineDir: %s: unknown substitution ${%s} (known: the *FunctionArn of docs/contracts.md, %s, <Stem>StateMachineArn of a companion file)", path, name, busPlaceholder)
		}
	}
	var walkErr error
	walkJSON(def, func(key string, v any) {
		switch key {
		case "Resource":
			res, _ := v.(string)
			switch {
			case res == resLambdaInvoke, placeholderRE.MatchString(res) && strings.HasSuffix(res, "FunctionArn}"):
			case res == resPutEvents:
				if !m.UsesBus {
					walkErr = fmt.Errorf("stateMachineDir: %s: events:putEvents must name the product bus as ${%s}", path, busPlaceholder)
				}
			case res == resStartExec:
			case res == resStartExec+".sync", res == resStartExec+".sync:2":
				m.SyncChildren = true
			default:
				if walkErr == nil {
					walkErr = fmt.Errorf("stateMachineDir: %s: Resource %q is not granted by the stack (use lambda:invoke, events:putEvents or states:startExecution)", path, res)
				}
			}
		case "ProcessorConfig":
			if pc, ok := v.(map[string]any); ok && pc["Mode"] == "DISTRIBUTED" {
				m.Distributed = true
			}
		}
	})
	slices.Sort(m.Functions)
	slices.Sort(m.Machines)
	return m, walkErr
}

// walkJSON calls f for every key/value pair of every object in v.
func walkJSON(v any, f func(key string, v any)) {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys) // deterministic first error
		for _, k := range keys {
			f(k, t[k])
			walkJSON(t[k], f)
		}
	case []any:
		for _, e := range t {
			walkJSON(e, f)
		}
	}
}

// orderMachines sorts machines so that each comes after those it
// references, failing on a cycle.
func orderMachines(ms []machineFile) ([]machineFile, error) {
	byStem := map[string]machineFile{}
	for _, m := range ms {
		byStem[m.Stem] = m
	}
	slices.SortFunc(ms, func(a, b machineFile) int { return strings.Compare(a.Stem, b.Stem) })
	state := map[string]int{} // 1 visiting, 2 done
	var out []machineFile
	var visit func(s string, path []string) error
	visit = func(s string, path []string) error {
		switch state[s] {
		case 1:
			return fmt.Errorf("stateMachineDir: machines reference each other in a cycle: %s", strings.Join(append(path, s), " → "))
		case 2:
			return nil
		}
		state[s] = 1
		for _, d := range byStem[s].Machines {
			if err := visit(d, append(path, s)); err != nil {
				return err
			}
		}
		state[s] = 2
		out = append(out, byStem[s])
		return nil
	}
	for _, m := range ms {
		if err := visit(m.Stem, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// ruleFile is one statemachines/rules/<name>.json (docs/contracts.md):
// the bus it lives on, the function it targets and its event pattern, read
// by this stack and by the local EventBridge alike.
type ruleFile struct {
	Name   string `json:"-"`
	Bus    string `json:"bus"`
	Target string `json:"target"`
	// Via is "" or statemachines.ViaRelaunchQueue: the rule targets the
	// relaunch queue, which Target (retry) consumes.
	Via         string         `json:"via"`
	Description string         `json:"description"`
	Pattern     map[string]any `json:"pattern"`
}

// Rule buses.
const (
	BusProduct = "product"
	BusDefault = "default"
)

// envelopeKeys are the top-level fields of an EventBridge event a pattern
// may match on.
var envelopeKeys = []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}

// loadRules reads every *.json in dir.
func loadRules(dir string) ([]ruleFile, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("rulesDir: %s: no rule files", dir)
	}
	slices.Sort(paths)
	var out []ruleFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("rulesDir: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		var r ruleFile
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("rulesDir: %s: %v", p, err)
		}
		r.Name = strings.TrimSuffix(filepath.Base(p), ".json")
		if r.Bus != BusProduct && r.Bus != BusDefault {
			return nil, fmt.Errorf("rulesDir: %s: bus: must be %q or %q, got %q", p, BusProduct, BusDefault, r.Bus)
		}
		if !slices.Contains(slices.Collect(maps.Values(functionPlaceholders)), r.Target) {
			return nil, fmt.Errorf("rulesDir: %s: target: unknown function %q", p, r.Target)
		}
		if r.Via != "" && (r.Via != statemachines.ViaRelaunchQueue || r.Target != "retry") {
			return nil, fmt.Errorf("rulesDir: %s: via: only %q, for target retry, got %q for %q", p, statemachines.ViaRelaunchQueue, r.Via, r.Target)
		}
		if len(r.Pattern) == 0 {
			return nil, fmt.Errorf("rulesDir: %s: pattern: missing", p)
		}
		for k, v := range r.Pattern {
			if !slices.Contains(envelopeKeys, k) {
				return nil, fmt.Errorf("rulesDir: %s: pattern.%s: not an EventBridge envelope field", p, k)
			}
			if _, isObj := v.(map[string]any); k != "detail" && isObj {
				return nil, fmt.Errorf("rulesDir: %s: pattern.%s: must be an array of values", p, k)
			}
		}
		out = append(out, r)
	}
	return out, nil
}
