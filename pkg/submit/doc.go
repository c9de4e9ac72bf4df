// Package submit owns the entry of a launch request into Step Functions:
// the handler of the submit function (the target of the LaunchRequested
// rule on the product's bus) and the rule that names an execution after its
// request id, so that one request id runs at most one execution however
// often it is submitted. throttlectl submit uses the same Submitter.
package submit
