// Command summary is the summary Lambda function: it sums a request's
// results from the table and puts LaunchCompleted. See README.md for its
// JSON contract.
package main

import "github.com/throttle-handler/throttle-handler/pkg/lambdafn"

func main() { lambdafn.Main("summary") }
