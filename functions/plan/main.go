// Command plan is the plan Lambda function: it validates a launch request,
// stores it with its plan in the table and returns the chunk indices. See
// README.md for its JSON contract.
package main

import "github.com/throttle-handler/throttle-handler/pkg/lambdafn"

func main() { lambdafn.Main("plan") }
