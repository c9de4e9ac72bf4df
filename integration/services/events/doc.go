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
// or from AddRule; loaded rules carry the target RetryPolicy the CDK stack
// sets for their bus (StackRetryPolicy: the defaults on the product's bus, 8
// attempts within an hour on the default bus). Delivery is at least once:
// with Options.Duplicates an event is delivered twice at that rate; and
// unordered: with Options.Reorder each delivery is held a random time first.
// A failed delivery is retried with exponential backoff and full jitter
// on the stack's scaled clock while the error is retryable (throttling, 5xx,
// connection errors) and within the target's RetryPolicy (AWS defaults: 185
// attempts, 24 h); then it goes to the target's dead-letter queue with
// EventBridge's message attributes (RULE_ARN, TARGET_ARN, ERROR_CODE,
// ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS), or is dropped
// ("Amazon EventBridge User Guide: How EventBridge retries delivering
// events"; "Using dead-letter queues to process undelivered events in
// EventBridge").
//
// The read operations DescribeEventBus, ListRules, DescribeRule and
// ListTargetsByRule answer what the rules are (one page; every rule is
// ENABLED), for throttlectl doctor.
//
// Put is the Go entry for AWS service events (the simulator's EventSink):
// full envelopes, matched on the default bus, where AWS puts them.
package events
