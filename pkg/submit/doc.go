// Package submit owns the entry of a launch request into Step Functions:
// the handler of the submit function (the target of the LaunchRequested
// rule on the product's bus) and the rule that names an execution after its
// request id, so that one request id runs at most one execution however
// often it is submitted. Submitter.Submit serves a CLI (throttlectl submit)
// with the same validation and naming. A request refused for good starts
// no execution, so submit answers its callback.taskToken itself
// (SendTaskFailure with the error plan would have failed with).
//
// Accounts: when the bus policy lets other accounts put LaunchRequested,
// an event whose account is not the function's own (read from the
// invoked function's ARN in the Lambda context, no STS call) runs under
// the request id <account>/<requestId> (NamespacedID), so two accounts
// sending the same id run two requests, named apart (the "/" makes the
// execution name hashed). The account's own events keep their id.
package submit
