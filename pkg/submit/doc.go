// Package submit owns the entry of a launch request into Step Functions:
// the handler of the submit function (the target of the LaunchRequested
// rule on the product's bus) and the rule that names an execution after its
// request id, so that one request id runs at most one execution however
// often it is submitted. Submitter.Submit serves a CLI (throttlectl submit)
// with the same validation and naming. A request refused for good starts
// no execution, so submit answers its callback.taskToken itself
// (SendTaskFailure with the error plan would have failed with).
package submit
