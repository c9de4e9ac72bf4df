// Command submit is the Lambda function behind the LaunchRequested rule on
// the product's bus: it starts one launch execution per request id
// (pkg/submit). See README.md for its contract.
package main

import "github.com/throttle-handler/throttle-handler/pkg/lambdafn"

func main() { lambdafn.Main("submit") }
