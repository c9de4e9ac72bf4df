package failure

// build makes the classification a rule gives. The minimum delay is the
// rule's own, else the class default; capacity scopes are filled from what
// the message names; reuseToken is set only for transient failures of a
// call we made (SDK errors, Step Functions task errors, our own
// TransientError) — callers that learned of a failure afterwards (failures[]
// entries, events) clear it.
func build(r rule, code string, src Source, msg string) Classification {
	if !r.class.Valid() {
		r = rule{class: Transient}
	}
	c := Classification{
		Class:           r.class,
		Code:            code,
		Source:          src,
		API:             r.api,
		Retryable:       r.class.Retryable(),
		MinDelaySeconds: r.delay,
		Message:         clip(msg),
	}
	if c.Code == "" {
		c.Code = "Unknown"
	}
	if c.Message == "" {
		c.Message = string(r.class) + ": " + c.Code + " (no message)"
	}
	if c.MinDelaySeconds <= 0 {
		c.MinDelaySeconds = defaultDelay(r.class)
	}
	if r.class == Capacity {
		c.Scope = r.scope
		c.ScopeValue, c.AZ = scopeValues(r.scope, msg)
	}
	c.ReuseToken = r.class == Transient && (src == SourceSDK || src == SourceStates || src == SourceLaunch)
	return c
}

// decide classifies an AWS error code with its message and HTTP status.
// Precedence: a code that is not a wrapper decides; else the message (an
// embedded code, then known phrases); else the wrapper code's own class;
// else the status (429 throttled, 5xx transient, other 4xx permanent);
// else transient — an unrecognised failure may have happened, and retrying
// it with the same token is safe.
func decide(code, msg string, status int) (rule, string) {
	if !wrapperCodes[code] {
		if r, ok := lookupCode(code); ok {
			return r, code
		}
	}
	if r, c, ok := lookupMessage(msg); ok {
		if c == "" {
			c = code
		}
		return r, c
	}
	if r, ok := lookupCode(code); ok {
		return r, code
	}
	switch {
	case status == 429:
		return rule{class: Throttled}, code
	case status >= 500:
		return rule{class: Transient}, code
	case status >= 400 && code != "":
		return rule{class: Permanent}, code
	}
	return rule{class: Transient}, code
}

// severity orders classes for aggregating several failures into one: the
// class that constrains the retry most wins.
func severity(c Class) int {
	switch c {
	case Permanent:
		return 5
	case Quota:
		return 4
	case Capacity:
		return 3
	case Throttled:
		return 2
	case Transient:
		return 1
	}
	return 0
}
