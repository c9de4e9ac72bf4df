// Package launchstore persists launches: the Store interface the handlers
// use, its DynamoDB implementation on the product's single table, and an
// in-memory implementation for tests and single-process use. One
// conformance suite, storetest.TestStore, runs on both, so a handler test
// on the memory store says what the DynamoDB store would do.
//
// Every method is a single read or a single conditional write: claims,
// attempt records and give-ups are decided by DynamoDB's condition, never
// by a read followed by a write, so 400 concurrent Lambdas do not race.
// The DynamoDB layout is in DynamoDB's doc comment and docs/contracts.md.
package launchstore
