// Package sfnrunner starts and drives the long-lived Node process
// (runner.mjs) that executes Step Functions state machines with
// aws-local-stepfunctions for the local stack.
//
// The process runs under Node 22 from node_modules/.bin/node (the library
// needs Promise.withResolvers) in its own process group with Pdeathsig, so it
// never outlives the Go process. Go and Node speak newline-delimited JSON over
// the child's stdin and stdout (the protocol is documented at the top of
// runner.mjs); Task states call back into the local AWS over HTTP, exactly as
// Step Functions calls Lambda and the other services on AWS. The runner
// divides all its timers by the time scale, so Wait states, Retry intervals
// and timeouts elapse in simulated seconds of the stack's clock.Scaled.
package sfnrunner
