package submit

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// maxRequestIDLen is the request model's limit (pkg/launch) that a
// namespaced id must still meet.
const maxRequestIDLen = 256

var accountRe = regexp.MustCompile(`^[0-9]{12}$`)

// NamespacedID is the request id a LaunchRequested event gets: the id as
// sent when the event comes from the function's own account, and
// <account>/<requestId> when it comes from another account (through the
// bus policy), so two accounts sending the same id run two requests and
// one account cannot reach another's executions. The result is a valid
// request id whenever it is at most 256 characters; its execution name
// is ExecutionName's (the "/" makes it hashed).
func NamespacedID(eventAccount, ownAccount, requestID string) string {
	if eventAccount == "" || eventAccount == ownAccount {
		return requestID
	}
	return eventAccount + "/" + requestID
}

// AccountOfARN is the account field of an ARN ("" when s is not one).
func AccountOfARN(s string) string {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[4]
}

// ownAccount is the account the function runs in: Options.Account, or
// the account of the invoked function's ARN in the Lambda context (no STS
// call).
func (s *Submitter) ownAccount(ctx context.Context) string {
	if s.account != "" {
		return s.account
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return AccountOfARN(lc.InvokedFunctionArn)
	}
	return ""
}

// namespace returns detail with its requestId namespaced by the event's
// account when that is not the function's own (NamespacedID), and the
// foreign account ("" when the event is the account's own). An event from
// an account that cannot be compared (no own account known, or not an
// account id) is refused: guessing could merge two accounts' requests.
func (s *Submitter) namespace(ctx context.Context, eventAccount string, detail json.RawMessage) (json.RawMessage, string, error) {
	if eventAccount == "" {
		return detail, "", nil
	}
	own := s.ownAccount(ctx)
	switch {
	case !accountRe.MatchString(eventAccount):
		return nil, "", permanent(fmt.Errorf("account: the event's account %q is not an AWS account id (12 digits)", clipID(eventAccount)))
	case own == "":
		return nil, "", permanent(fmt.Errorf("account: the event comes from account %s, and this function's own account is unknown (no invoked function ARN in the Lambda context): cannot tell whether to namespace its requestId", eventAccount))
	case eventAccount == own:
		return detail, "", nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(detail, &fields); err != nil {
		return nil, "", permanent(fmt.Errorf("detail: not a JSON object: %w", err))
	}
	var id string
	if err := json.Unmarshal(fields["requestId"], &id); err != nil || id == "" {
		return detail, "", nil // ParseRequest names requestId
	}
	ns := NamespacedID(eventAccount, own, id)
	if len(ns) > maxRequestIDLen {
		return nil, "", permanent(fmt.Errorf("requestId: an id sent from another account (%s) runs as <account>/<requestId>, which must be at most %d characters: the id may have at most %d, got %d",
			eventAccount, maxRequestIDLen, maxRequestIDLen-len(eventAccount)-1, len(id)))
	}
	fields["requestId"], _ = json.Marshal(ns)
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, "", permanent(fmt.Errorf("detail: %w", err))
	}
	return out, eventAccount, nil
}

// clipID keeps an echoed value short.
func clipID(v string) string {
	if len(v) > 32 {
		return v[:32] + "…"
	}
	return v
}
