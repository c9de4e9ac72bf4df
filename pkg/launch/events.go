package launch

import "time"

// EventSource is the source of every product event on the product's bus.
const EventSource = "throttle-handler"

// Detail types of the product events.
const (
	DetailLaunchRequested = "LaunchRequested" // detail: Request
	DetailLaunchCompleted = "LaunchCompleted" // detail: Summary
	DetailLaunchFailed    = "LaunchFailed"    // detail: LaunchFailedDetail
	DetailTaskRelaunched  = "TaskRelaunched"  // detail: TaskRelaunchedDetail
	DetailLaunchCancelled = "LaunchCancelled" // detail: LaunchCancelledDetail
)

// Codes of the dead letters the summary writes for units still pending when
// a request ends (LaunchFailedDetail.Code, class ClassUnfinished).
const (
	// ClassUnfinished is the class of a unit the request ended without a
	// decision about: its chunk stalled, failed or never ran.
	ClassUnfinished = "unfinished"
	// CodeOutcomeUnknown: the unit's last call has an unknown outcome (a
	// lost response, a crash): it may be running. Redrive skips it unless
	// asked, since launching it again may run it twice.
	CodeOutcomeUnknown = "OutcomeUnknown"
	// CodeChunkUnfinished: the chunk ended (or never ran) with units
	// neither launched nor given up; nothing of them runs.
	CodeChunkUnfinished = "ChunkUnfinished"
	// CodeRelaunchUnfinished: a task that failed to start was still
	// waiting for its relaunch when the request ended (its event late, or
	// on the relaunch dead-letter queue).
	CodeRelaunchUnfinished = "RelaunchUnfinished"
)

// Summary is the end of every request (the summary function's output and
// the detail of LaunchCompleted): launched + failed + pending +
// pendingRelaunches = requested (each failed unit is also in deadLettered).
type Summary struct {
	RequestID string `json:"requestId"`
	Requested int    `json:"requested"`
	Launched  int    `json:"launched"`
	// Failed counts units given up on (quota, permanent, attempts or
	// deadline exhausted); each is also dead-lettered with its chunk.
	Failed       int `json:"failed"`
	DeadLettered int `json:"deadLettered"`
	// Pending counts units of chunks that have neither completed nor been
	// given up (zero at the end of a normal execution).
	Pending int `json:"pending"`
	// PendingRelaunches counts tasks that failed to start and whose
	// relaunch is neither recorded nor given up yet (waiting on the relaunch
	// queue); they are not in Launched. Zero in a final summary unless the
	// deadline and its grace passed first.
	PendingRelaunches int `json:"pendingRelaunches"`
	// Unfinished counts the failed units the summary itself dead-lettered
	// because the request ended without a decision about them (class
	// "unfinished"); RelaunchesUnfinished those of them that were waiting
	// for a relaunch.
	Unfinished           int `json:"unfinished,omitempty"`
	RelaunchesUnfinished int `json:"relaunchesUnfinished,omitempty"`
	// Reasons counts failed units by reason.
	Reasons     map[string]int `json:"reasons"`
	Relaunched  int            `json:"relaunched"`
	CompletedAt time.Time      `json:"completedAt"`
	// WaitSeconds > 0 says the summary is not final (nothing was put): ask
	// again in that many seconds, relaunches are pending or (waiting for
	// completion) units are not final. Only when asked with
	// waitForRelaunches.
	WaitSeconds int `json:"waitSeconds,omitempty"`

	// WaitingForQuota counts the units of chunks waiting for quota.
	WaitingForQuota int `json:"waitingForQuota,omitempty"`
	// Counts are the units by result status (Results), every status
	// present.
	Counts map[string]int `json:"counts"`
	// Status (StatusSucceeded, StatusFailed) and Error (ErrLaunchIncomplete,
	// ErrTasksFailed; empty on success) are Request.Outcome of the final
	// summary; empty while it is not final. Cause is the JSON of
	// SummaryCause when the status is FAILED: the execution fails with
	// Error and Cause.
	Status string `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	Cause  string `json:"cause,omitempty"`
	// Results says where the per-unit results are.
	Results *ResultsLocation `json:"results,omitempty"`
	// FirstReasons are up to MaxFirstReasons units that count as
	// failures: the first (by index) of each distinct status and reason.
	FirstReasons []UnitReason `json:"firstReasons,omitempty"`
}

// MaxFirstReasons bounds Summary.FirstReasons; MaxReasonLength each reason.
const (
	MaxFirstReasons = 5
	MaxReasonLength = 256
)

// ResultsLocation says where a request's results are: its task records
// (table, partition key, sort-key prefix) and, when the stack has a
// results bucket, a JSON Lines object of its rows (ResultRow).
type ResultsLocation struct {
	Table    string `json:"table,omitempty"`
	PK       string `json:"pk"`
	SKPrefix string `json:"skPrefix"`
	S3       string `json:"s3,omitempty"`
}

// UnitReason is why one unit failed.
type UnitReason struct {
	Index  int    `json:"index"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// SummaryCause is the cause of a FAILED execution (Summary.Cause).
type SummaryCause struct {
	RequestID    string         `json:"requestId"`
	Counts       map[string]int `json:"counts"`
	FirstReasons []UnitReason   `json:"firstReasons,omitempty"`
}

// LaunchFailedDetail is put when a chunk is given up on: its missing units
// went to the product's dead-letter queue with the same content.
type LaunchFailedDetail struct {
	RequestID string `json:"requestId"`
	Chunk     int    `json:"chunk"`
	Kind      Kind   `json:"kind"`
	Attempt   int    `json:"attempt"`
	// Missing is the number of units of the chunk not launched.
	Missing int `json:"missing"`
	// Class and Code are the last failure's classification.
	Class  string `json:"class"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
	// StoppedTaskARN is set when a failed relaunch is given up on.
	StoppedTaskARN string    `json:"stoppedTaskArn,omitempty"`
	At             time.Time `json:"at"`
}

// TaskRelaunchedDetail is put when a task that failed to start
// (TaskFailedToStart) was relaunched.
type TaskRelaunchedDetail struct {
	RequestID      string    `json:"requestId"`
	Chunk          int       `json:"chunk"`
	StoppedTaskARN string    `json:"stoppedTaskArn"`
	NewTaskARN     string    `json:"newTaskArn"`
	StoppedReason  string    `json:"stoppedReason,omitempty"`
	At             time.Time `json:"at"`
}

// LaunchCancelledDetail is put once when a request is cancelled
// (throttlectl cancel): what it launched, what it dead-lettered, and what
// it never launched because of the cancel. Launched + DeadLettered +
// CancelledBeforeLaunch = Requested.
type LaunchCancelledDetail struct {
	RequestID    string `json:"requestId"`
	Requested    int    `json:"requested"`
	Launched     int    `json:"launched"`
	DeadLettered int    `json:"deadLettered"`
	// CancelledBeforeLaunch counts units neither launched nor dead-lettered
	// when the request was cancelled; they never will be.
	CancelledBeforeLaunch int `json:"cancelledBeforeLaunch"`
	// Stopped counts launched tasks stopped / instances terminated by
	// cancel --stop-launched (0 otherwise).
	Stopped int       `json:"stopped"`
	Cause   string    `json:"cause,omitempty"`
	At      time.Time `json:"at"`
}
