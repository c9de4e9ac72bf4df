// Command classify is the Lambda function that answers "what kind of
// failure is this?" for the launch state machine: any failure shape in,
// a Classification out (pkg/failure via pkg/lambdafn). See README.md.
package main

import "github.com/throttle-handler/throttle-handler/pkg/lambdafn"

func main() { lambdafn.Main("classify") }
