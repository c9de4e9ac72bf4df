package lambda

import (
	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
)

// FaultKind is what an injected fault does to one invocation.
type FaultKind int

const (
	// FaultNone runs the invocation normally.
	FaultNone FaultKind = iota
	// FaultThrottle answers 429 TooManyRequestsException without running the handler.
	FaultThrottle
	// FaultServiceError answers 500 ServiceException without running the handler.
	FaultServiceError
	// FaultCrashBefore answers Runtime.ExitError without running the handler.
	FaultCrashBefore
	// FaultCrashAfter runs the handler, then answers Runtime.ExitError: the
	// work happened but the caller never learns its result.
	FaultCrashAfter
	// FaultResourceNotReady answers 502 ResourceNotReadyException: an
	// inactive function whose VPC connection is being reestablished.
	FaultResourceNotReady
	// FaultEC2Throttled answers 502 EC2ThrottledException: EC2 throttled
	// Lambda while it set up the function's network interface.
	FaultEC2Throttled
	// FaultEC2Unexpected answers 502 EC2UnexpectedException.
	FaultEC2Unexpected
	// FaultENILimitReached answers 502 ENILimitReachedException: the VPC's
	// network interface limit is reached.
	FaultENILimitReached
	// FaultSubnetIPAddressLimitReached answers 502
	// SubnetIPAddressLimitReachedException: the function's subnets have no
	// free address.
	FaultSubnetIPAddressLimitReached
)

// serviceFaults are the Invoke errors a fault answers without running the
// handler: the status and error code the Lambda API gives each (AWS Lambda
// API Reference: Invoke, Errors).
var serviceFaults = map[FaultKind]struct {
	status      int
	code, cause string
}{
	FaultServiceError:                {500, "ServiceException", "Lambda was unable to process the request"},
	FaultResourceNotReady:            {502, "ResourceNotReadyException", "the function is inactive and its VPC connection is not available yet"},
	FaultEC2Throttled:                {502, "EC2ThrottledException", "EC2 throttled Lambda while it set up the function's network interface"},
	FaultEC2Unexpected:               {502, "EC2UnexpectedException", "Lambda received an unexpected EC2 error while it set up the function"},
	FaultENILimitReached:             {502, "ENILimitReachedException", "the VPC's network interface limit is reached"},
	FaultSubnetIPAddressLimitReached: {502, "SubnetIPAddressLimitReachedException", "the function's subnets have no free IP address"},
}

// faultError returns the API error of a fault that stops the invocation
// before it runs, or nil.
func faultError(k FaultKind) *awsjson.Error {
	if k == FaultThrottle {
		return tooMany()
	}
	f, ok := serviceFaults[k]
	if !ok {
		return nil
	}
	e := awsjson.Errorf(f.status, f.code, "%s (injected fault)", f.cause)
	e.Fields = map[string]any{"Type": "Service"}
	return e
}
