// Package events is the local EventBridge: PutEvents over the real
// eventbridge client's JSON 1.1 protocol (X-Amz-Target AWSEvents.PutEvents)
// on the default bus and on named buses, rules matched with quamina, and
// rule targets (Lambda, invoked asynchronously as EventBridge does, Step
// Functions StartExecution without a name, as AWS, and SQS, the event as
// the message body).
//
// Rules come from the same files the CDK stack reads
// (statemachines/rules/*.json: {"bus": "product"|"default", "target":
// "<function>", "via"?: "relaunch-queue", "pattern": {…}}, see LoadRules)
// or from AddRule. Delivery is
// at least once: with Options.Duplicates an event is delivered twice at that
// rate. A failed delivery is retried with exponential backoff and full jitter
// on the stack's scaled clock while the error is retryable (throttling, 5xx,
// connection errors) and within the target's RetryPolicy (AWS defaults: 185
// attempts, 24 h); then it goes to the target's dead-letter queue with
// EventBridge's message attributes (RULE_ARN, TARGET_ARN, ERROR_CODE,
// ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS), or is dropped.
//
// Put is the Go entry for AWS service events (the simulator's EventSink):
// full envelopes, matched on the default bus, where AWS puts them.
package events
