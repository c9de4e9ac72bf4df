// Package launch is the launch domain's model, pure and free of AWS: the
// launch request and its validation (request.go), its priority — the
// limiter lane of its calls (priority.go) — its version-2 jobs
// fields — per-task items and their overrides (items.go), retry by exit
// (retry.go), timeout, waiting and the final status (jobs.go, outcome.go)
// — the deterministic split into chunks and the ideal makespan (plan.go),
// task identity and idempotency tokens
// (identity.go), the records a launch leaves — stored requests, chunk
// state, attempt records, failover placements, relaunch claims (chunk.go) —
// and the detail shapes of the product's events (events.go).
//
// Everything here is a value computed from its inputs: chunk i of a request
// is recomputed by every function from (request, i), a client token from
// (request, chunk, attempt), so Step Functions carries only indices and
// counts. Persistence is pkg/launchstore; the Lambda handlers that use both
// are pkg/handler. The JSON contract of the request is README.md beside
// this file.
package launch
