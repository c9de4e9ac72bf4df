package settings

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Context keys besides the Settings fields (whose keys are their JSON names).
const (
	keyPropsFile       = "propsFile"
	keyStackName       = "stackName"
	keyAssetDir        = "assetDir"
	keyStateMachineDir = "stateMachineDir"
	keyRulesDir        = "rulesDir"
)

// listKeys, stringKeys and numberKeys are the Settings fields by kind, so a
// `-c key=value` string can be converted to the field's type.
var (
	listKeys   = []string{"clusters", "taskDefinitions", "taskRoles", "launchTemplates", "subnets", "instanceProfileRoles", "itemsBuckets", "eventSourceAccounts"}
	stringKeys = []string{"limitsJson", "logLevel", "alarmTopicArn", "organizationId", "limiterTableName", "accountScope"}
	numberKeys = []string{"deferThresholdSeconds", "logRetentionDays", "runTaskConcurrency", "retryConcurrency",
		"maxAheadSeconds", "limiterBusyRetrySeconds", "maxConcurrency"}
	alarmKeys = []string{"throttleRatePercent", "dlqDepth", "failedExecutions", "limiterBusy"}
)

// Options are the context keys that are not Settings: where the app finds
// its inputs and what it names the stack.
type Options struct {
	StackName       string // default ThrottleHandler
	AssetDir        string // default: the repository's build/
	StateMachineDir string // default: the repository's statemachines/
	RulesDir        string // default: StateMachineDir/rules
}

// FromContext reads the Settings from CDK context: first the JSON file named
// by propsFile (if any), then each key set directly, which wins. Values come
// either typed (cdk.json) or as strings (`cdk synth -c key=value`): lists
// as comma-separated strings, numbers as decimal strings, alarms as
// "alarms.<field>" keys or an "alarms" object. Errors name the key.
func FromContext(get func(key string) any) (Settings, Options, error) {
	var s Settings
	opts := Options{StackName: "ThrottleHandler"}
	doc := map[string]any{}
	if f, ok := get(keyPropsFile).(string); ok && f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return s, opts, fmt.Errorf("%s: %w", keyPropsFile, err)
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return s, opts, fmt.Errorf("%s: %s: not a JSON object: %v", keyPropsFile, f, err)
		}
		// A props file may hold the limits as an object.
		if v, ok := doc["limitsJson"].(map[string]any); ok {
			b, _ := json.Marshal(v)
			doc["limitsJson"] = string(b)
		}
	}
	for _, k := range listKeys {
		switch v := get(k).(type) {
		case nil:
		case string:
			var list []any
			for _, e := range strings.Split(v, ",") {
				if e = strings.TrimSpace(e); e != "" {
					list = append(list, e)
				}
			}
			doc[k] = list
		case []any:
			doc[k] = v
		default:
			return s, opts, fmt.Errorf("%s: must be a list or a comma-separated string, got %T", k, v)
		}
	}
	for _, k := range stringKeys {
		switch v := get(k).(type) {
		case nil:
		case string:
			doc[k] = v
		case map[string]any:
			if k != "limitsJson" {
				return s, opts, fmt.Errorf("%s: must be a string, got an object", k)
			}
			b, _ := json.Marshal(v) // cdk.json may hold the limits as an object
			doc[k] = string(b)
		default:
			return s, opts, fmt.Errorf("%s: must be a string, got %T", k, v)
		}
	}
	for _, k := range numberKeys {
		n, err := number(k, get(k))
		if err != nil {
			return s, opts, err
		}
		if n != nil {
			doc[k] = *n
		}
	}
	alarms, _ := doc["alarms"].(map[string]any)
	if alarms == nil {
		alarms = map[string]any{}
	}
	if v, ok := get("alarms").(map[string]any); ok {
		for k, e := range v {
			alarms[k] = e
		}
	}
	for _, k := range alarmKeys {
		n, err := number("alarms."+k, get("alarms."+k))
		if err != nil {
			return s, opts, err
		}
		if n != nil {
			alarms[k] = *n
		}
	}
	if len(alarms) > 0 {
		doc["alarms"] = alarms
	}
	b, _ := json.Marshal(doc)
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, opts, fmt.Errorf("context: %v", err)
	}
	for key, dst := range map[string]*string{keyStackName: &opts.StackName, keyAssetDir: &opts.AssetDir, keyStateMachineDir: &opts.StateMachineDir, keyRulesDir: &opts.RulesDir} {
		switch v := get(key).(type) {
		case nil:
		case string:
			if v != "" {
				*dst = v
			}
		default:
			return s, opts, fmt.Errorf("%s: must be a string, got %T", key, v)
		}
	}
	return s, opts, nil
}

func number(key string, v any) (*float64, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case float64:
		return &t, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: must be a number, got %q", key, t)
		}
		return &f, nil
	}
	return nil, fmt.Errorf("%s: must be a number, got %T", key, v)
}
