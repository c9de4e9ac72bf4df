package statemachines

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
)

//go:embed *.asl.json
var definitions embed.FS

// Launch is the name of the launch state machine (launch.asl.json).
const Launch = "launch"

// The ${…} placeholders the definitions use (docs/contracts.md). The CDK
// stack and the local runner substitute the same names.
const (
	PlanFunctionArn      = "PlanFunctionArn"
	RunTaskFunctionArn   = "RunTaskFunctionArn"
	ClassifyFunctionArn  = "ClassifyFunctionArn"
	RetryFunctionArn     = "RetryFunctionArn"
	SummaryFunctionArn   = "SummaryFunctionArn"
	EventBusName         = "EventBusName"
	ChunkStateMachineArn = "ChunkStateMachineArn"
)

// localAccount is the account id of every local ARN.
const localAccount = "000000000000"

var placeholders = []string{
	PlanFunctionArn, RunTaskFunctionArn, ClassifyFunctionArn, RetryFunctionArn,
	SummaryFunctionArn, EventBusName, ChunkStateMachineArn,
}

// Placeholders returns every substitution name a definition may use.
func Placeholders() []string { return slices.Clone(placeholders) }

// placeholderRE matches a CDK definition substitution: ${Name}.
var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Names returns the names of the embedded definitions (file names without
// .asl.json), sorted.
func Names() []string {
	entries, _ := fs.Glob(definitions, "*.asl.json")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e, ".asl.json"))
	}
	slices.Sort(names)
	return names
}

// Raw returns a definition as stored, placeholders included.
func Raw(name string) ([]byte, error) {
	b, err := definitions.ReadFile(name + ".asl.json")
	if err != nil {
		return nil, fmt.Errorf("statemachines: no definition %q (have %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Used returns the ${…} names used by a definition, sorted and
// without duplicates.
func Used(name string) ([]string, error) {
	b, err := Raw(name)
	if err != nil {
		return nil, err
	}
	var used []string
	for _, m := range placeholderRE.FindAllSubmatch(b, -1) {
		if n := string(m[1]); !slices.Contains(used, n) {
			used = append(used, n)
		}
	}
	slices.Sort(used)
	return used, nil
}

// Load returns the definition called name with every ${Key} replaced by
// subs[Key], as CDK's DefinitionSubstitutions does. Substitutions the
// definition does not use are ignored; a placeholder without a value is an
// error naming it. Values are inserted as they are: they must not need JSON
// escaping (ARNs and bus names do not).
func Load(name string, subs map[string]string) ([]byte, error) {
	for k, v := range subs {
		if strings.ContainsAny(v, "\"\\\n") {
			return nil, fmt.Errorf("statemachines: substitution %s: value %q needs JSON escaping", k, v)
		}
	}
	b, err := Raw(name)
	if err != nil {
		return nil, err
	}
	var missing []string
	out := placeholderRE.ReplaceAllFunc(b, func(m []byte) []byte {
		key := string(m[2 : len(m)-1])
		v, ok := subs[key]
		if !ok {
			if !slices.Contains(missing, key) {
				missing = append(missing, key)
			}
			return m
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("statemachines: %s: no substitution for %s", name, strings.Join(missing, ", "))
	}
	return out, nil
}

// LocalFunctionARN is the ARN the local stack gives a function of
// pkg/lambdafn (the local Lambda endpoint resolves the last segment).
func LocalFunctionARN(region, function string) string {
	return "arn:aws:lambda:" + region + ":" + localAccount + ":function:" + function
}

// LocalSubstitutions returns the substitutions for the local stack: every
// function placeholder mapped to LocalFunctionARN(region, <function>), the
// product bus name, and the chunk machine ARN (unused by launch today).
func LocalSubstitutions(region, eventBus string) map[string]string {
	return map[string]string{
		PlanFunctionArn:      LocalFunctionARN(region, "plan"),
		RunTaskFunctionArn:   LocalFunctionARN(region, "runtask"),
		ClassifyFunctionArn:  LocalFunctionARN(region, "classify"),
		RetryFunctionArn:     LocalFunctionARN(region, "retry"),
		SummaryFunctionArn:   LocalFunctionARN(region, "summary"),
		EventBusName:         eventBus,
		ChunkStateMachineArn: "arn:aws:states:" + region + ":" + localAccount + ":stateMachine:chunk",
	}
}
