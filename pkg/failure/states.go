package failure

import (
	"encoding/json"
	"strings"
)

// lambdaErrorDoc is the error document a Lambda function failure carries:
// Step Functions puts it, as a JSON string, in the Cause.
type lambdaErrorDoc struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// statesRules classifies the built-in States.* error names.
var statesRules = map[string]rule{
	"States.Timeout":                         {class: Transient},
	"States.HeartbeatTimeout":                {class: Transient},
	"States.ItemReaderFailed":                {class: Transient},
	"States.ResultWriterFailed":              {class: Transient},
	"States.Permissions":                     {class: Permanent},
	"States.Runtime":                         {class: Permanent},
	"States.DataLimitExceeded":               {class: Permanent},
	"States.ResultPathMatchFailure":          {class: Permanent},
	"States.ParameterPathFailure":            {class: Permanent},
	"States.IntrinsicFailure":                {class: Permanent},
	"States.QueryEvaluationError":            {class: Permanent},
	"States.NoChoiceMatched":                 {class: Permanent},
	"States.ExceedToleratedFailureThreshold": {class: Permanent},
}

// lambdaRules classifies the errors of the Lambda service itself (the
// function may or may not have run). AWS advises retrying the service
// errors after 2 s.
var lambdaRules = map[string]rule{
	"Lambda.TooManyRequestsException":             {class: Throttled, api: "lambda:Invoke"},
	"Lambda.EC2ThrottledException":                {class: Throttled, api: "lambda:Invoke"},
	"Lambda.ServiceException":                     {class: Transient, delay: delayLambdaService, api: "lambda:Invoke"},
	"Lambda.AWSLambdaException":                   {class: Transient, delay: delayLambdaService, api: "lambda:Invoke"},
	"Lambda.SdkClientException":                   {class: Transient, delay: delayLambdaService, api: "lambda:Invoke"},
	"Lambda.ClientExecutionTimeoutException":      {class: Transient, delay: delayLambdaService, api: "lambda:Invoke"},
	"Lambda.Unknown":                              {class: Transient, delay: delayLambdaService, api: "lambda:Invoke"},
	"Lambda.ResourceNotReadyException":            {class: Transient, delay: delayLambdaService, api: "lambda:Invoke"},
	"Lambda.ResourceConflictException":            {class: Transient, delay: delayLambdaService, api: "lambda:Invoke"},
	"Lambda.EC2UnexpectedException":               {class: Transient, delay: delayLambdaService, api: "lambda:Invoke"},
	"Lambda.SnapStartTimeoutException":            {class: Transient, delay: delayLambdaService, api: "lambda:Invoke"},
	"Lambda.ENILimitReachedException":             {class: Quota, api: "lambda:Invoke"},
	"Sandbox.Timedout":                            {class: Transient, delay: delayLambdaService},
	"Runtime.ExitError":                           {class: Transient, delay: delayLambdaService},
	"Runtime.Unknown":                             {class: Transient, delay: delayLambdaService},
	"Runtime.HandlerNotFound":                     {class: Permanent},
	"Runtime.InvalidEntrypoint":                   {class: Permanent},
	"Runtime.InvalidRuntime":                      {class: Permanent},
	"Runtime.MarshalError":                        {class: Permanent},
	"Runtime.UnmarshalError":                      {class: Permanent},
	"Lambda.InvalidRequestContentException":       {class: Permanent},
	"Lambda.RequestTooLargeException":             {class: Permanent},
	"Lambda.ResourceNotFoundException":            {class: Permanent},
	"Lambda.InvalidParameterValueException":       {class: Permanent},
	"Lambda.InvalidRuntimeException":              {class: Permanent},
	"Lambda.UnsupportedMediaTypeException":        {class: Permanent},
	"Lambda.KMSAccessDeniedException":             {class: Permanent},
	"Lambda.InvalidZipFileException":              {class: Permanent},
	"Lambda.InvalidSubnetIDException":             {class: Permanent},
	"Lambda.InvalidSecurityGroupIDException":      {class: Permanent},
	"Lambda.SubnetIPAddressLimitReachedException": {class: Capacity, scope: ScopeSubnet},
}

// ClassifyStates classifies a Step Functions error object as a Catch
// passes it ({"Error": errorName, "Cause": cause}):
//
//   - ThrottledError, CapacityError, QuotaError, TransientError,
//     PermanentError: our handlers' own verdict; code, op and scope are read
//     back from the errorMessage in the Cause (a JSON error document, or
//     the plain "Name: message" the local runner gives).
//   - States.*: Timeout and HeartbeatTimeout are transient (the task may
//     have run); TaskFailed is decided by its Cause (a stopped ECS task
//     from runTask.sync, an error document, or SDK text), transient if
//     nothing is recognised; data and definition errors are permanent.
//   - Lambda.*, Sandbox.*, Runtime.*: the Lambda service's own errors:
//     TooManyRequests throttled, service errors transient (2 s), bad
//     requests permanent.
//   - <Service>.<Code> from service integrations (ECS.AmazonECSException,
//     ECS.InvalidParameterException, Ec2.…Exception): the code, and for
//     wrapper codes the Java-style Cause ("Rate exceeded. (Service:
//     AmazonECS; Status Code: 400; Error Code: ThrottlingException; ...)").
//   - anything else is a function error with a foreign errorType
//     (errorString, wrapError, OperationError): the errorMessage is read
//     as SDK text ("operation error ECS: RunTask, ... api error
//     ThrottlingException: Rate exceeded"); unrecognised is transient.
//
// Transient answers reuse the token: the task may have run. A stopped ECS
// task in the Cause is classified like the TaskFailedToStart event and
// never reuses the token.
func ClassifyStates(errorName, cause string) Classification {
	name := strings.TrimSpace(errorName)
	if class, kind, ok := classOfName(name); ok {
		return classifyNamedStates(class, kind, name, cause)
	}
	if r, ok := statesRules[name]; ok {
		return build(r, name, SourceStates, prefixed(name, causeMessage(cause)))
	}
	if name == "States.TaskFailed" || name == "States.BranchFailed" || strings.HasPrefix(name, "States.") {
		return classifyCause(name, cause)
	}
	if r, ok := lambdaRules[name]; ok {
		t := parseText(causeMessage(cause))
		return build(r, name, SourceStates, prefixed(name, t.msg))
	}
	if svc, code, ok := strings.Cut(name, "."); ok && isServiceName(svc) {
		t := parseText(causeMessage(cause))
		if t.code != "" && wrapperCodes[code] {
			code = t.code
		}
		r, code := decide(code, t.msg, t.status)
		if svc == "Lambda" && r.class == Transient {
			r.delay = delayLambdaService
		}
		if r.api == "" {
			r.api = apiName(svc, "")
			if t.api != "" {
				r.api = t.api
			}
		}
		return build(r, code, SourceStates, name+": "+t.msg)
	}
	return classifyCause(name, cause)
}

// isServiceName reports whether s looks like the service part of an
// integration error name (ECS, Ec2, Lambda, DynamoDb).
func isServiceName(s string) bool {
	if s == "" || len(s) > 32 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isCodeByte(s[i]) || s[i] == '.' || s[i] == '-' || s[i] == '_' {
			return false
		}
	}
	return true
}

// classifyNamedStates reads one of our named errors back from a Cause.
func classifyNamedStates(class Class, kind, name, cause string) Classification {
	msg := causeMessage(cause)
	msg = strings.TrimPrefix(msg, name+": ")
	n := parseNamed(kind, msg)
	r, _ := lookupCode(n.code)
	r.class, r.api = class, n.op
	code := n.code
	if code == "" {
		code = name
	}
	c := build(r, code, SourceLaunch, msg)
	if class == Capacity && n.scope != ScopeNone {
		c.Scope, c.ScopeValue = n.scope, n.scopeValue
	}
	return c
}

// causeMessage returns the errorMessage of a Cause holding a Lambda error
// document, else the Cause itself.
func causeMessage(cause string) string {
	if strings.HasPrefix(strings.TrimSpace(cause), "{") {
		var doc lambdaErrorDoc
		if json.Unmarshal([]byte(cause), &doc) == nil && (doc.ErrorMessage != "" || doc.ErrorType != "") {
			return doc.ErrorMessage
		}
	}
	return cause
}

// classifyCause decides a failure from its Cause alone: a stopped ECS task
// (runTask.sync), a Lambda error document, or SDK text.
func classifyCause(name, cause string) Classification {
	trimmed := strings.TrimSpace(cause)
	if strings.HasPrefix(trimmed, "{") {
		var task taskDetail
		if json.Unmarshal([]byte(trimmed), &task) == nil && (task.StopCode != "" || task.StoppedReason != "") {
			c := classifyTask(task, SourceStates)
			c.ReuseToken = false
			return c
		}
	}
	if strings.HasPrefix(trimmed, "{") {
		var doc lambdaErrorDoc
		if json.Unmarshal([]byte(trimmed), &doc) == nil {
			if class, kind, ok := classOfName(doc.ErrorType); ok {
				return classifyNamedStates(class, kind, doc.ErrorType, cause)
			}
		}
	}
	msg := causeMessage(cause)
	t := parseText(msg)
	r, code := decide(t.code, t.msg, t.status)
	if code == "" {
		code = name
	}
	if r.api == "" {
		r.api = t.api
	}
	return build(r, code, SourceStates, prefixed(name, t.msg))
}

func prefixed(name, msg string) string {
	if name == "" {
		return msg
	}
	if msg == "" {
		return name
	}
	return name + ": " + msg
}
