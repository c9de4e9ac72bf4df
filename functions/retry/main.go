// Command retry is the retry Lambda function: it decides how a failed chunk
// goes on (chunk mode), reacts to ECS events (event mode) and takes back the
// relaunches that waited on the relaunch queue (SQS batches). See README.md
// for its JSON contract.
package main

import "github.com/throttle-handler/throttle-handler/pkg/lambdafn"

func main() { lambdafn.Main("retry") }
