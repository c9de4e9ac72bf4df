package handler

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// WithResultsTable names the product's table in the final summary's
// results location (where the task records are).
func (h *SummaryHandler) WithResultsTable(table string) *SummaryHandler {
	h.table = table
	return h
}

// ResultsKey is the key of a request's results object in the results
// bucket.
func ResultsKey(requestID string) string { return "results/" + requestID + ".jsonl" }

// results are the request's per-unit rows (launch.Results).
func (h *SummaryHandler) results(ctx context.Context, sr launch.StoredRequest, chunks []launch.ChunkState) ([]launch.ResultRow, error) {
	return resultRows(ctx, h.store, sr, chunks, launch.Results)
}

// LoadResults reads a request's per-unit rows from the store as the
// summary computes them (throttlectl results), or every attempt of each
// unit (launch.AllAttemptResults). ErrNotFound for an unknown request.
func LoadResults(ctx context.Context, st launchstore.Store, requestID string, allAttempts bool) ([]launch.ResultRow, error) {
	sr, err := st.Request(ctx, requestID)
	if err != nil {
		return nil, err
	}
	chunks, _, err := st.Chunks(ctx, requestID)
	if err != nil {
		return nil, err
	}
	rows := launch.Results
	if allAttempts {
		rows = launch.AllAttemptResults
	}
	return resultRows(ctx, st, sr, chunks, rows)
}

func resultRows(ctx context.Context, st launchstore.Store, sr launch.StoredRequest, chunks []launch.ChunkState,
	rows func(launch.StoredRequest, []launch.ChunkState, []launch.TaskRecord, bool) []launch.ResultRow) ([]launch.ResultRow, error) {
	tasks, err := st.Tasks(ctx, sr.Request.RequestID)
	if err != nil {
		return nil, err
	}
	cancelled, err := requestCancelled(ctx, st, sr.Request.RequestID)
	if err != nil {
		return nil, err
	}
	return rows(sr, chunks, tasks, cancelled), nil
}

// requestCancelled says the request was cancelled (false for a store
// without close marks).
func requestCancelled(ctx context.Context, st launchstore.Store, requestID string) (bool, error) {
	c, ok := st.(launchstore.Closer)
	if !ok {
		return false, nil
	}
	state, err := c.RequestClosed(ctx, requestID)
	return state == launchstore.ClosedCancelled, err
}

// sweep has the Sweeper look after a waiting request's tasks before the
// check reads them, and returns how long until the next attempt's timeout
// (0: none). A failed sweep only delays what it would have seen: the check
// goes on with the records as they are.
func (h *SummaryHandler) sweep(ctx context.Context, sr launch.StoredRequest) time.Duration {
	if h.o.Sweeper == nil || !sr.Request.WaitForCompletion {
		return 0
	}
	rep, err := h.o.Sweeper.Sweep(ctx, sr)
	if err != nil {
		h.o.Logger.Warn("summary: sweep failed", "requestId", sr.Request.RequestID, "error", err)
		return 0
	}
	if rep.Described+rep.Stopped > 0 {
		h.o.Logger.Info("summary swept", "requestId", sr.Request.RequestID, "described", rep.Described, "observed", rep.Observed, "stopped", rep.Stopped)
	}
	return rep.NextTimeout
}

func allFinal(rows []launch.ResultRow) bool {
	for _, r := range rows {
		if !launch.Final(r.Status) {
			return false
		}
	}
	return true
}

// waitJobs is the wait of a check at now of a request waiting for its
// tasks: launch.WaitInterval of the time since the first check and the
// next attempt's timeout, no later than the deadline; at least 1 s.
func waitJobs(now, first, deadline time.Time, next time.Duration) int {
	d := min(launch.WaitInterval(now.Sub(first), next), deadline.Sub(now))
	return max(1, int(math.Ceil(d.Seconds())))
}

// finish completes a final summary: its status by Request.Outcome, the
// cause of a failure, and where the results are — writing the results
// object first when the stack has a results bucket.
func (h *SummaryHandler) finish(ctx context.Context, st *summaryState) error {
	r, sum := st.sr.Request, &st.sum
	waiting := r.WaitForCompletion
	sum.Status, sum.Error = r.Outcome(launch.FinalCountsOf(st.rows, waiting))
	sum.FirstReasons = firstReasons(st.rows, waiting)
	sum.Results = &launch.ResultsLocation{Table: h.table, PK: "req#" + r.RequestID, SKPrefix: "task#"}
	if h.o.S3 != nil && h.o.ResultsBucket != "" {
		if err := h.writeResults(ctx, r.RequestID, st.rows); err != nil {
			return err
		}
		sum.Results.S3 = "s3://" + h.o.ResultsBucket + "/" + ResultsKey(r.RequestID)
	}
	if sum.Status == launch.StatusFailed {
		b, err := json.Marshal(launch.SummaryCause{RequestID: r.RequestID, Counts: sum.Counts, FirstReasons: sum.FirstReasons})
		if err != nil {
			return err
		}
		sum.Cause = string(b)
	}
	return nil
}

// writeResults puts the rows as a JSON Lines object (overwritten by a
// repeated final summary with the same rows).
func (h *SummaryHandler) writeResults(ctx context.Context, requestID string, rows []launch.ResultRow) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	_, err := h.o.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(h.o.ResultsBucket), Key: aws.String(ResultsKey(requestID)),
		Body: bytes.NewReader(buf.Bytes()), ContentType: aws.String("application/x-ndjson"),
	})
	return err
}

// firstReasons are, for each distinct status and reason, the first unit
// (by index) that counts as a failure of the request (FinalCountsOf):
// dead-lettered, never launched, and — when the request waits — failed or
// not finished by its end. A chunk's units given up together share one.
func firstReasons(rows []launch.ResultRow, waiting bool) []launch.UnitReason {
	var out []launch.UnitReason
	seen := map[string]bool{}
	for _, r := range rows {
		if len(out) == launch.MaxFirstReasons {
			break
		}
		reason, failed := unitFailure(r, waiting)
		if !failed || seen[r.Status+" "+reason] {
			continue
		}
		seen[r.Status+" "+reason] = true
		if len(reason) > launch.MaxReasonLength {
			reason = reason[:launch.MaxReasonLength]
		}
		out = append(out, launch.UnitReason{Index: r.Index, Status: r.Status, Reason: reason})
	}
	return out
}

func unitFailure(r launch.ResultRow, waiting bool) (string, bool) {
	switch r.Status {
	case launch.ResultDeadLettered:
		return cmp.Or(r.StoppedReason, "dead-lettered"), true
	case launch.ResultPending:
		return "never launched", true
	case launch.ResultFailed:
		if !waiting {
			return "", false
		}
		reason := cmp.Or(r.StoppedReason, r.StopCode)
		if r.ExitCode != nil {
			reason = fmt.Sprintf("exit code %d: %s", *r.ExitCode, reason)
		}
		return fmt.Sprintf("%s (attempt %d)", reason, r.Attempts), true
	case launch.ResultRunning:
		return "still " + cmp.Or(r.LastStatus, "launching") + " when the request ended", waiting
	}
	return "", false
}
