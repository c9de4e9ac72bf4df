// Package launchstore persists launches: the Store interface the handlers
// use, its DynamoDB implementation on the product's single table, and an
// in-memory implementation for tests and single-process use. One
// conformance suite, storetest.TestStore, runs on both, so a handler test
// on the memory store says what the DynamoDB store would do.
//
// Every decision — a claim, an attempt record, a give-up, a budget charge —
// is one conditional write, never a read followed by a write, so 400
// concurrent Lambdas do not race. A few methods make more than one write
// (GiveUpRelaunch: the lost record, the chunk's count, the claim); each
// write is safe to repeat, and Memory makes them atomic.
// Version 2's jobs add per-task items, task records and a quota gate per
// request: a task record has three groups of attributes, one per writer
// (RecordTasks — the tracker and the relaunch path, runtask's units being
// derived from the chunk's ordered attempt ids —, ObserveTask, which only moves
// forward, and DecideTask, once), so no writer erases another's; a fully
// written record is about 700 bytes, which sets a Tasks query's pages and
// read units (DynamoDB's doc comment).
// A request id is held by one execution at a time (Claimer, claim.go:
// req#<id> / execution), taken over only from a named holder that ended.
//
// Apart from Store, as optional interfaces both stores implement: Closer
// (the request's closed mark) and Callbacks (callback.go: how the
// caller's task token was answered, the chunks' failure for the final
// summary, and the heartbeat chain's sequence number with the message that
// claimed it), all attributes of the request's meta item.
// The DynamoDB layout is in DynamoDB's doc comment and docs/contracts.md.
package launchstore
