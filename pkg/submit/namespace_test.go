package submit

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

const own, other, third = "111122223333", "444455556666", "777788889999"

// inFunction is ctx as Lambda gives it to the submit function of account.
func inFunction(ctx context.Context, account string) context.Context {
	return lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID: "r", InvokedFunctionArn: "arn:aws:lambda:us-east-1:" + account + ":function:throttle-submit"})
}

func from(account, detail string) events.EventBridgeEvent {
	e := envelope(detail)
	e.AccountID = account
	return e
}

// startedID is the requestId of the input an execution was started with.
func startedID(t *testing.T, f *fakeSFN, name string) string {
	t.Helper()
	var in struct {
		RequestID string `json:"requestId"`
	}
	if err := json.Unmarshal([]byte(f.executions[name]), &in); err != nil {
		t.Fatalf("execution %s: input %q: %v", name, f.executions[name], err)
	}
	return in.RequestID
}

// TestNamespaceByAccount: an event from another account runs as
// <account>/<requestId>, under its own execution; the account's own events
// keep their id. Two accounts sending the same id get two executions, and
// a repeated foreign event is "already submitted", not a third.
func TestNamespaceByAccount(t *testing.T) {
	t.Parallel()
	f := &fakeSFN{}
	s := New(f, machine)
	ctx := inFunction(t.Context(), own)
	want := map[string]string{"": "nightly-1", own: "nightly-1", other: other + "/nightly-1", third: third + "/nightly-1"}
	names := map[string]string{}
	for _, acct := range []string{"", own, other, third, other} {
		res, err := s.Handle(ctx, from(acct, request))
		if err != nil {
			t.Fatalf("event from %q: %v", acct, err)
		}
		if res.RequestID != want[acct] || res.ExecutionName != ExecutionName(want[acct]) || !validName.MatchString(res.ExecutionName) {
			t.Errorf("event from %q: %+v, want requestId %s named %s", acct, res, want[acct], ExecutionName(want[acct]))
		}
		if got := startedID(t, f, res.ExecutionName); got != want[acct] {
			t.Errorf("event from %q: the execution's input has requestId %q, want %q", acct, got, want[acct])
		}
		if foreign := acct != "" && acct != own; res.SourceAccount != map[bool]string{true: acct}[foreign] {
			t.Errorf("event from %q: sourceAccount %q", acct, res.SourceAccount)
		}
		names[acct] = res.ExecutionName
	}
	if len(f.executions) != 3 || names[other] == names[third] || names[other] == names[own] {
		t.Fatalf("executions %v: want 3 (own, %s, %s)", f.executions, other, third)
	}
	if len(f.starts) != 5 {
		t.Errorf("%d StartExecution calls, want 5 (the repeat is already submitted)", len(f.starts))
	}
}

func TestNamespaceRefusals(t *testing.T) {
	t.Parallel()
	long := strings.Replace(request, `"nightly-1"`, `"`+strings.Repeat("n", 250)+`"`, 1)
	tests := []struct {
		name    string
		ctx     func(context.Context) context.Context
		opts    Options
		ev      events.EventBridgeEvent
		wantErr string // "" = accepted
	}{
		{"own account unknown", func(c context.Context) context.Context { return c }, Options{}, from(other, request), "account"},
		{"own account from the options", func(c context.Context) context.Context { return c }, Options{Account: other}, from(other, request), ""},
		{"not an account id", func(c context.Context) context.Context { return inFunction(c, own) }, Options{}, from("4444-5555", request), "account"},
		{"a foreign id too long once namespaced", func(c context.Context) context.Context { return inFunction(c, own) }, Options{}, from(other, long), "requestId"},
		{"the same id from the account itself", func(c context.Context) context.Context { return inFunction(c, own) }, Options{}, from(own, long), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeSFN{}
			_, err := New(f, machine, func(o *Options) { *o = tt.opts }).Handle(tt.ctx(t.Context()), tt.ev)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if _, ok := err.(*failure.PermanentError); !ok || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want a PermanentError naming %s", err, tt.wantErr)
			}
			if len(f.starts) != 0 {
				t.Errorf("%d executions started, want none", len(f.starts))
			}
		})
	}
}

func TestNamespacedID(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ event, own, id, want string }{
		{"", own, "a", "a"}, {own, own, "a", "a"}, {other, own, "a", other + "/a"}, {other, own, own + "/a", other + "/" + own + "/a"},
	} {
		if got := NamespacedID(tt.event, tt.own, tt.id); got != tt.want {
			t.Errorf("NamespacedID(%q, %q, %q) = %q, want %q", tt.event, tt.own, tt.id, got, tt.want)
		}
	}
	if got := AccountOfARN("arn:aws:lambda:us-east-1:" + own + ":function:f"); got != own {
		t.Errorf("AccountOfARN = %q", got)
	}
	if got := AccountOfARN("not-an-arn"); got != "" {
		t.Errorf("AccountOfARN(not an ARN) = %q", got)
	}
}
