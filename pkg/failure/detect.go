package failure

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// probe reads the keys that tell the input shapes apart. Values stay raw so
// a key of the wrong type is reported by name instead of failing the whole
// decode. encoding/json matches keys case-insensitively, so Step Functions'
// PascalCase (Failures, Reason) and the APIs' camelCase both land here.
type probe struct {
	DetailType   json.RawMessage `json:"detail-type"`
	Source       json.RawMessage `json:"source"`
	Resources    json.RawMessage `json:"resources"`
	Error        json.RawMessage `json:"Error"`
	Cause        json.RawMessage `json:"Cause"`
	ErrorType    json.RawMessage `json:"errorType"`
	ErrorMessage json.RawMessage `json:"errorMessage"`
	Failures     json.RawMessage `json:"failures"`
	Reason       json.RawMessage `json:"reason"`
	Detail       json.RawMessage `json:"detail"`
	Type         json.RawMessage `json:"__type"`
	Code         json.RawMessage `json:"code"`
	Message      json.RawMessage `json:"message"`
	StatusCode   json.RawMessage `json:"statusCode"`
}

// Classify detects which shape a JSON input has and classifies it. It is
// the classify function's whole logic. Shapes, in the order they are
// tried:
//
//	{"detail-type": ..., "detail": {...}, ...}      EventBridge event → ClassifyEvent
//	{"Error": "...", "Cause": "..."}                Step Functions error → ClassifyStates
//	{"errorType": "...", "errorMessage": "..."}     Lambda error document → ClassifyStates(errorType, document)
//	{"failures": [...], ...}                        RunTask response or runtask's partial output → ClassifyRunTaskFailures
//	[{"reason": ...}, ...]                          a failures[] list → ClassifyRunTaskFailures
//	{"reason": "...", "detail": "...", "arn": ...}  one failures[] entry → ClassifyRunTaskFailure
//	{"__type"|"code": "...", "message": "...", "statusCode": 400}
//	                                                an AWS JSON error body → classified by code like an SDK error
//	{"error": {"Error": ..., "Cause": ...}, ...}     a Catch result kept beside the state input
//	                                                (ResultPath "$.error") → the nested object
//
// Anything else — not JSON, not an object, a known key of the wrong type,
// no known key — is permanent with code Unparseable and a message saying
// what was wrong. Classify never panics and is safe for concurrent use.
func Classify(input []byte) Classification { return classifyInput(input, 0) }

// maxNesting bounds how deep classify looks for an error object nested
// under an "error" key (a Catch with ResultPath "$.error" keeps the state
// input beside it).
const maxNesting = 2

func classifyInput(input []byte, depth int) Classification {
	trimmed := bytes.TrimSpace(input)
	switch {
	case len(trimmed) == 0:
		return unparseable("input is empty: want a JSON object (an EventBridge event, a Step Functions error, a Lambda error document, RunTask failures or an AWS error body)")
	case trimmed[0] == '[':
		var fs []Failure
		if err := json.Unmarshal(trimmed, &fs); err != nil {
			return unparseable("input is a JSON array but not a failures[] list: " + err.Error())
		}
		return ClassifyRunTaskFailures(fs)
	case trimmed[0] != '{':
		if !json.Valid(trimmed) {
			return unparseable("input is not valid JSON" + syntaxHint(trimmed))
		}
		return unparseable("input is JSON but not an object: want one of the shapes documented for classify")
	}
	var p probe
	if err := json.Unmarshal(trimmed, &p); err != nil {
		return unparseable("input is not valid JSON" + syntaxHint(trimmed))
	}
	switch {
	case p.DetailType != nil:
		var env eventEnvelope
		var bad string
		if env.DetailType, bad = str(p.DetailType, "detail-type"); bad != "" {
			return unparseable("EventBridge event: " + bad)
		}
		if env.Source, bad = str(p.Source, "source"); bad != "" {
			return unparseable("EventBridge event: " + bad)
		}
		if p.Resources != nil {
			if err := json.Unmarshal(p.Resources, &env.Resources); err != nil {
				return unparseable("EventBridge event: resources: want a list of strings: " + err.Error())
			}
		}
		env.Detail = p.Detail
		return classifyEnvelope(env)
	case len(p.Error) > 0 && p.Error[0] == '{' && depth < maxNesting:
		return classifyInput(p.Error, depth+1)
	case p.Error != nil:
		name, err := str(p.Error, "Error")
		if err != "" {
			return unparseable(err)
		}
		cause, err := str(p.Cause, "Cause")
		if err != "" {
			return unparseable(err)
		}
		return ClassifyStates(name, cause)
	case p.ErrorType != nil:
		name, err := str(p.ErrorType, "errorType")
		if err != "" {
			return unparseable(err)
		}
		return ClassifyStates(name, string(trimmed))
	case p.Failures != nil:
		var fs []Failure
		if err := json.Unmarshal(p.Failures, &fs); err != nil {
			return unparseable("failures: want a list of {arn, reason, detail}: " + err.Error())
		}
		return ClassifyRunTaskFailures(fs)
	case p.Reason != nil:
		reason, err := str(p.Reason, "reason")
		if err != "" {
			return unparseable(err)
		}
		detail, err := str(p.Detail, "detail")
		if err != "" {
			return unparseable(err)
		}
		return ClassifyRunTaskFailure(reason, detail)
	case p.Type != nil || p.Code != nil:
		return classifyErrorBody(p)
	}
	return unparseable("input has none of the keys classify knows (detail-type, Error, errorType, failures, reason, __type, code); got keys " + keysOf(trimmed))
}

// classifyErrorBody classifies an AWS JSON error body: {"__type":
// "com.amazon...#ThrottlingException", "message": "Rate exceeded"}, or the
// {"code", "message", "statusCode"} a handler may report.
func classifyErrorBody(p probe) Classification {
	raw, field := p.Type, "__type"
	if raw == nil {
		raw, field = p.Code, "code"
	}
	code, bad := str(raw, field)
	if bad != "" {
		return unparseable(bad)
	}
	// Clients strip a "namespace#" prefix and a ":url" suffix.
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	msg, bad := str(p.Message, "message")
	if bad != "" {
		return unparseable(bad)
	}
	status := 0
	if p.StatusCode != nil {
		if err := json.Unmarshal(p.StatusCode, &status); err != nil {
			return unparseable("statusCode: want an integer, got " + clip(string(p.StatusCode)))
		}
	}
	r, code := decide(code, msg, status)
	return build(r, code, SourceSDK, prefixed(code, msg))
}

// str decodes a raw JSON string field; a missing or null field is "".
// The second result names the field when it is not a string.
func str(raw json.RawMessage, field string) (string, string) {
	if raw == nil || string(raw) == "null" {
		return "", ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", field + ": want a string, got " + clip(string(raw))
	}
	return s, ""
}

// syntaxHint says where JSON decoding failed.
func syntaxHint(b []byte) string {
	var v any
	err := json.Unmarshal(b, &v)
	if se, ok := err.(*json.SyntaxError); ok {
		return " (" + se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10) + ")"
	}
	if err != nil {
		return " (" + err.Error() + ")"
	}
	return ""
}

// keysOf lists an object's top-level keys, sorted, for error messages.
func keysOf(obj []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return "(none)"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, strconv.Quote(k))
	}
	sort.Strings(keys)
	if len(keys) > 20 {
		keys = append(keys[:20], "...")
	}
	if len(keys) == 0 {
		return "(none)"
	}
	return "[" + strings.Join(keys, " ") + "]"
}
