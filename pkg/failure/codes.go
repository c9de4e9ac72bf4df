package failure

import "strings"

// rule is what a code or a message pattern says about a failure.
type rule struct {
	class Class
	scope ScopeKind
	// delay overrides the class's default minimum delay when > 0.
	delay float64
	// api is the API or bucket concerned when the code implies one.
	api string
}

// Default minimum delays per class, in seconds (see the package doc).
const (
	delayThrottled = 1
	delayCapacity  = 5
	delayQuota     = 60
	delayTransient = 1
	// delayAccountThrottle is for account-wide congestion signals (ECS
	// service-action throttle events, ENI provisioning timeouts): the
	// shared budget needs longer than one refill to recover.
	delayAccountThrottle = 5
	// delayLambdaService follows AWS's advice for Lambda.ServiceException
	// and friends: retry after 2 s.
	delayLambdaService = 2
	// delayPullThrottle is for image pulls throttled by a registry.
	delayPullThrottle = 2
)

func defaultDelay(c Class) float64 {
	switch c {
	case Throttled:
		return delayThrottled
	case Capacity:
		return delayCapacity
	case Quota:
		return delayQuota
	case Transient:
		return delayTransient
	}
	return 0
}

// codeRules classifies AWS error codes (smithy.APIError ErrorCode, the
// Error Code of a Java-style Cause, EC2 <Code>). The throttle set is the
// SDK's retry.DefaultThrottleErrorCodes minus LimitExceededException,
// which ECS uses for account quotas. Read-only.
var codeRules = map[string]rule{
	// throttled: a request-rate limit.
	"Throttling":                             {class: Throttled},
	"ThrottlingException":                    {class: Throttled},
	"ThrottledException":                     {class: Throttled},
	"RequestThrottledException":              {class: Throttled},
	"TooManyRequestsException":               {class: Throttled},
	"ProvisionedThroughputExceededException": {class: Throttled},
	"TransactionInProgressException":         {class: Throttled},
	"RequestLimitExceeded":                   {class: Throttled},
	"BandwidthLimitExceeded":                 {class: Throttled},
	"RequestThrottled":                       {class: Throttled},
	"SlowDown":                               {class: Throttled},
	"PriorRequestNotComplete":                {class: Throttled},
	"EC2ThrottledException":                  {class: Throttled},

	// capacity: none now; retry later or elsewhere.
	"InsufficientInstanceCapacity":         {class: Capacity, scope: ScopeInstanceType},
	"InsufficientReservedInstanceCapacity": {class: Capacity, scope: ScopeInstanceType},
	"InsufficientHostCapacity":             {class: Capacity, scope: ScopeAZ},
	"InsufficientCapacity":                 {class: Capacity, scope: ScopeAZ},
	"InsufficientAddressCapacity":          {class: Capacity, scope: ScopeAZ},
	"InsufficientCapacityOnHost":           {class: Capacity, scope: ScopeAZ},
	"UnfulfillableCapacity":                {class: Capacity, scope: ScopeInstanceType},
	"InsufficientFreeAddressesInSubnet":    {class: Capacity, scope: ScopeSubnet},
	"SpotMaxPriceTooLow":                   {class: Capacity, scope: ScopeInstanceType},

	// quota: an account limit; waiting alone rarely helps.
	"InstanceLimitExceeded":            {class: Quota, api: "ec2:RunInstances"},
	"VcpuLimitExceeded":                {class: Quota, api: "ec2:RunInstances"},
	"MaxSpotInstanceCountExceeded":     {class: Quota, api: "ec2:RunInstances"},
	"MaxSpotFleetRequestCountExceeded": {class: Quota},
	"LimitExceededException":           {class: Quota},
	"ServiceQuotaExceededException":    {class: Quota},

	// transient: the call may have happened.
	"InternalError":               {class: Transient},
	"InternalFailure":             {class: Transient},
	"InternalServerError":         {class: Transient},
	"InternalServiceError":        {class: Transient},
	"InternalServiceException":    {class: Transient},
	"ServerInternal":              {class: Transient},
	"ServiceUnavailable":          {class: Transient},
	"ServiceUnavailableException": {class: Transient},
	"Unavailable":                 {class: Transient},
	"RequestTimeout":              {class: Transient},
	"RequestTimeoutException":     {class: Transient},
	"ServerException":             {class: Transient},
	"RequestExpired":              {class: Transient},
	"IDPCommunicationError":       {class: Transient},

	// permanent: bad input, configuration or permissions.
	"AccessDeniedException":                          {class: Permanent},
	"AccessDenied":                                   {class: Permanent},
	"UnauthorizedOperation":                          {class: Permanent},
	"AuthFailure":                                    {class: Permanent},
	"UnrecognizedClientException":                    {class: Permanent},
	"InvalidClientTokenId":                           {class: Permanent},
	"InvalidSignatureException":                      {class: Permanent},
	"SignatureDoesNotMatch":                          {class: Permanent},
	"ExpiredToken":                                   {class: Permanent},
	"ExpiredTokenException":                          {class: Permanent},
	"OptInRequired":                                  {class: Permanent},
	"ValidationException":                            {class: Permanent},
	"ValidationError":                                {class: Permanent},
	"MissingParameter":                               {class: Permanent},
	"InvalidParameterException":                      {class: Permanent},
	"InvalidParameterValue":                          {class: Permanent},
	"ClientException":                                {class: Permanent},
	"ClusterNotFoundException":                       {class: Permanent},
	"ServiceNotFoundException":                       {class: Permanent},
	"ResourceNotFoundException":                      {class: Permanent},
	"PlatformUnknownException":                       {class: Permanent},
	"UnsupportedFeatureException":                    {class: Permanent},
	"BlockedException":                               {class: Permanent},
	"ConflictException":                              {class: Permanent},
	"IdempotentParameterMismatch":                    {class: Permanent},
	"Unsupported":                                    {class: Permanent},
	"UnsupportedOperation":                           {class: Permanent},
	"DryRunOperation":                                {class: Permanent},
	"RequestTooLargeException":                       {class: Permanent},
	"PlatformTaskDefinitionIncompatibilityException": {class: Permanent},
}

// wrapperCodes are codes AWS uses as envelopes around another failure: the
// message decides (ECS's InvalidParameterException "... Rate exceeded
// (ErrorCode: Throttling)", ClientException "Tasks provisioning capacity
// limit exceeded.", Step Functions' ECS.AmazonECSException).
var wrapperCodes = map[string]bool{
	"":                          true,
	"Unknown":                   true,
	"InvalidParameterException": true,
	"ClientException":           true,
	"Unsupported":               true,
	"AmazonECSException":        true,
	"EcsException":              true,
	"AmazonEC2Exception":        true,
	"Ec2Exception":              true,
	"ServerException":           true,
}

// lookupCode classifies an AWS error code: exactly, then without the
// "Exception" suffix Step Functions' SDK integrations add, then by the
// naming conventions EC2 and ECS follow.
func lookupCode(code string) (rule, bool) {
	if r, ok := codeRules[code]; ok {
		return r, true
	}
	if base, ok := strings.CutSuffix(code, "Exception"); ok && base != "" {
		if r, ok := codeRules[base]; ok {
			return r, true
		}
	}
	switch {
	case code == "":
		return rule{}, false
	case strings.HasPrefix(code, "Throttl"):
		return rule{class: Throttled}, true
	case strings.HasPrefix(code, "Insufficient") && strings.Contains(code, "Capacity"):
		return rule{class: Capacity, scope: ScopeAZ}, true
	case strings.HasSuffix(code, "LimitExceeded"), strings.HasSuffix(code, "LimitExceededException"):
		return rule{class: Quota}, true
	case strings.HasPrefix(code, "Invalid"), strings.HasSuffix(code, ".NotFound"),
		strings.HasSuffix(code, ".Malformed"), strings.HasSuffix(code, "NotFoundException"),
		strings.HasSuffix(code, "NotFound"), strings.HasPrefix(code, "Unauthorized"):
		return rule{class: Permanent}, true
	}
	return rule{}, false
}

// messageRule is one recognisable phrase in free text (lower case).
type messageRule struct {
	phrase string
	code   string // the code to report; empty keeps the caller's
	rule   rule
}

// messageRules are phrases AWS puts in messages, causes and reasons whose
// code alone says too little. Checked in order; the first match wins.
var messageRules = [...]messageRule{
	{"capacity is unavailable at this time", "Capacity is unavailable at this time", rule{class: Capacity, scope: ScopeAZ}},
	{"tasks provisioning capacity limit exceeded", "Tasks provisioning capacity limit exceeded", rule{class: Capacity, scope: ScopeCluster}},
	{"reached the limit on the number of tasks", "TaskLimitExceeded", rule{class: Quota}},
	{"reached the limit on the number of vcpus", "FargateVCPULimitExceeded", rule{class: Quota}},
	{"not supported in your requested availability zone", "", rule{class: Capacity, scope: ScopeAZ}},
	{"rate exceeded", "", rule{class: Throttled}},
	{"request limit exceeded", "", rule{class: Throttled}},
	{"toomanyrequests", "", rule{class: Throttled}},
	{"too many requests", "", rule{class: Throttled}},
	{"too many concurrent attempts", "", rule{class: Throttled}},
	{"throttl", "", rule{class: Throttled}},
	{"insufficient capacity", "", rule{class: Capacity, scope: ScopeAZ}},
}

// lookupMessage classifies free text: an embedded error code first
// ("(ErrorCode: Throttling)", "Error Code: ThrottlingException;", "api
// error ThrottlingException:"), then the phrases above.
func lookupMessage(msg string) (rule, string, bool) {
	if msg == "" {
		return rule{}, "", false
	}
	if code := embeddedCode(msg); code != "" {
		if r, ok := lookupCode(code); ok && !wrapperCodes[code] {
			return r, code, true
		}
	}
	lower := strings.ToLower(clip(msg))
	for _, m := range messageRules {
		if strings.Contains(lower, m.phrase) {
			return m.rule, m.code, true
		}
	}
	return rule{}, "", false
}
