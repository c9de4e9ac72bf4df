// Command runtask is the runtask Lambda function: it makes one chunk's
// RunTask or RunInstances call under the fleet-wide limiter, or answers
// deferred. See README.md for its JSON contract.
package main

import "github.com/throttle-handler/throttle-handler/pkg/lambdafn"

func main() { lambdafn.Main("runtask") }
