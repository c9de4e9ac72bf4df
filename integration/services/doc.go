// Package services composes the local AWS services beyond ECS and EC2 —
// Lambda, Step Functions, EventBridge, SQS and DynamoDB (dynalite) — on one
// edge endpoint and one scaled clock. integration/awslocal calls Start from
// its startServices hook; tests get a fresh composition from servicestest.
//
// Wiring: Step Functions Task states call the Lambda endpoint (and ECS,
// EventBridge, SQS, DynamoDB) over HTTP through the edge, as on AWS; rule
// targets reach Lambda (async) and Step Functions (StartExecution, no name)
// in-process; undeliverable events go to the product's dead-letter queue;
// DynamoDB requests are proxied to dynalite, where the product's table is
// created at start; the proxy reads each request's body whole and forwards
// it whatever its client does next (dynalite exits on a request aborted
// mid-body). The relaunch queue (TH_RELAUNCH_QUEUE_URL; redrive to
// the dead-letter queue after 10 receives) feeds the retry function through
// an SQS event source mapping (package esm); the event targets' (retry's,
// submit's) asynchronous invocations that fail after Lambda's retries go
// to the dead-letter queue as on-failure destination records.
//
// Fidelity (harsh by default): standard SQS queues deliver seeded duplicate
// copies and reorder receives, EventBridge holds each delivery a random
// time so events overtake each other, and the DynamoDB proxy adds the Item
// that dynalite leaves out of a ConditionalCheckFailedException when the
// write asked ReturnValuesOnConditionCheckFailure=ALL_OLD ("Amazon DynamoDB
// API Reference: UpdateItem"). That item is read right after the failed
// write, not atomically with it: a write in between shows through, so
// callers see an item newer than the one their condition failed on.
// Options.Fidelity turns each off.
//
// The Lambda service runs as the CDK stack deploys the functions
// (stackLambda): each function's timeout from infra/cdk/settings.Functions,
// runtask's and retry's reserved concurrency from the default settings
// (Start fails, as Lambda refuses them, when Options.Lambda sets an account
// limit that cannot keep 100 unreserved beside them), and the event
// targets' asynchronous retries and maximum event age. Cold starts and the
// asynchronous queue's duplicates and disorder are on; Options.Lambda may
// turn any of it off.
package services
