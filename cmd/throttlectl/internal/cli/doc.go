// Package cli is throttlectl: a command line shaped like the aws CLI.
//
//	throttlectl [--region R] [--profile P] [--endpoint-url URL] [--output json|table] <command> [args]
//
// Global flags may also follow the command name (before its positional
// arguments). Commands are rows of the table in commands.go: add a row (name,
// synopsis, usage, run function) to add submit, status, cancel, redrive or
// demo; main.go does not change.
//
// Exit codes: 0 success, 1 the command ran and failed (a handler error, an
// AWS error, bad configuration), 2 usage error (unknown command or
// function, wrong arguments, unreadable event file), with a message that
// names what is wrong.
//
// The logic lives here rather than in main so that tests drive Run with
// their own stdin, stdout, environment and handler builder.
package cli
