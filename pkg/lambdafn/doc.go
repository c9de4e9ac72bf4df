// Package lambdafn is the one registry of the product's Lambda handlers.
// The Lambda mains (functions/<name>/main.go), throttlectl invoke and the
// local Lambda endpoint of integration/awslocal all call Build, so they run
// exactly the same handler value with the same JSON semantics.
//
// Main is each Lambda main in full (func main() { lambdafn.Main("runtask") }):
// environment → AWS configuration → Build → lambda.Start. When
// TH_ACCOUNT_SCOPE is unset (the CDK stack always sets it), the functions
// with a limiter (runtask, retry, summary) are rebuilt at their first
// invocation with the scope "<account>/<region>" of their own ARN, from
// the invocation's Lambda context: no STS call at cold start (scope.go).
//
// Registered functions: classify (this package, pure), plan, runtask,
// retry, summary (pkg/handler/wire) and submit (pkg/submit). To add one,
// add a line to the table in registry.go (the variables its main requires
// and its builder) and a one-line functions/<name>/main.go.
package lambdafn
