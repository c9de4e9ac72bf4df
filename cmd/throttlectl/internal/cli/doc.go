// Package cli is throttlectl: a command line shaped like the aws CLI.
//
//	throttlectl [--region R] [--profile P] [--endpoint-url URL] [--output json|table] <command> [args]
//
// Global flags may also follow the command name (before its positional
// arguments). Commands are rows of the table in commands.go:
//
//	submit   validate a launch request, then StartExecution named as the
//	         submit function names it (pkg/submit), or --via-events
//	status   the request's execution, summary counts (computed as the
//	         summary function does), chunks by state, reasons, ARNs/IDs,
//	         units waiting for quota, and for a request that waits for
//	         completion its units by result status; --watch
//	results  one row per unit (launch.Results, as the summary computes
//	         them): index, task ARN / instance id, attempts, exit code,
//	         stop code and reason, status; --status filters,
//	         --all-attempts lists each unit's earlier tasks too; JSON
//	         Lines with --output json, a table with --output table
//	cancel   StopExecution, mark the request cancelled (no relaunch runs
//	         after it) and put LaunchCancelled with the counts; launched
//	         work stays launched and reported, unless --stop-launched
//	         (StopTask / TerminateInstances paced by the fleet's limiter,
//	         after a confirmation on stdin or --yes)
//	redrive  re-submit what a finished request dead-lettered, once, as
//	         <requestId>.redrive (fresh identities and client tokens; a
//	         new execution, not Step Functions' redrive); units of
//	         unknown outcome (OutcomeUnknown) only with --include-unknown
//	doctor   check a deployed stack (--stack-name: its outputs, resources
//	         and template) or the names the other commands use (TH_*,
//	         flags) in seconds: every resource exists; the account's
//	         unreserved Lambda concurrency (GetAccountSettings) covers the
//	         stack's unreserved functions under its Map's MaxConcurrency
//	         and Lambda's floor of 100; the Fargate and EC2 On-Demand vCPU
//	         quotas hold what the limiter starts at once; the rules of
//	         statemachines/rules are enabled and target what the stack
//	         wires them to; a shared limiter table (limiterTableName)
//	         exists with the product's keys; the task roles exist. One line per check:
//	         pass, fail (with its fix), skipped (could not run here, and
//	         why) or assumed (the API rate buckets: no API reads them).
//	         Exit 0 unless a check failed (--strict: or was skipped).
//	         Against the local AWS everything runs but the stack checks
//	         (no CloudFormation) and the EC2 quota (no EC2 launch
//	         configured); doctor_*.go
//	limits   get: the limiter's effective limit document per service,
//	         from the table or the deployment's initial value
//	         (TH_LIMITS_JSON), with its version, who and when (--json);
//	         set --file F|-: validate as limitsJson is (the error names
//	         the key; nothing written) and store it in every service's
//	         bucket item, conditioned on the version read, recorded --by
//	         (default $USER and the profile); reset: back to the initial
//	         value. Every function applies a change at its next
//	         acquisition (pkg/limiter, Live limits); limits.go
//	invoke   run a function's real handler in-process on an event
//
// throttlectl talks only to AWS (a deployed stack, or the local one at
// --endpoint-url). The local end-to-end demo, which starts the local AWS,
// is `go run ./integration/cmd/demo` (make demo): the shipped CLI links
// none of the test harness (TestShippedCodeLinksNoHarness).
//
// The product's resources come from the TH_* variables of pkg/config (the
// deployed stack's outputs StateMachineArn, EventBusName, TableName,
// LimiterTableName, AccountScope carry them) or from --state-machine-arn,
// --event-bus, --table, --limiter-table. The commands that read the
// limiter (status, cancel --stop-launched) read it from the limiter table
// (TH_LIMITER_TABLE_NAME, else the product table) under TH_ACCOUNT_SCOPE,
// the stack's "<account>/<region>": set both from the outputs, or status
// reads another key than the functions write; the AWS
// configuration from the SDK's chain, AWS_ENDPOINT_URL / --endpoint-url
// pointing it at the local stack.
//
// Exit codes: 0 success, 1 the command ran and failed (a handler error, an
// AWS error, bad configuration), 2 usage error (unknown command or function, wrong arguments,
// unreadable file), with a message that names what is wrong and what to do.
//
// The logic lives here rather than in main so that tests drive Run with
// their own stdin, stdout, environment and handler builder.
package cli
