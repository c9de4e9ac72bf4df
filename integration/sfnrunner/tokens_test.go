package sfnrunner

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// tokenStub is a Lambda endpoint that takes asynchronous invocations and
// hands over the token in their payload.
func tokenStub(tokens chan<- string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in struct {
			Token string `json:"token"`
		}
		if r.Header.Get("X-Amz-Invocation-Type") != "Event" || json.Unmarshal(body, &in) != nil || in.Token == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		tokens <- in.Token
	}))
}

const callbackMachine = `{
  "StartAt": "Ask",
  "States": {
    "Ask": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "work", "Payload": {"token.$": "$$.Task.Token"}},
            "HeartbeatSeconds": 10, "End": true}
  }
}`

// Fidelity: "Amazon States Language: Task state" — a callback task with
// HeartbeatSeconds fails with States.HeartbeatTimeout when no heartbeat
// comes in time; Options.IgnoreHeartbeat turns that off. At k = 1000 the
// answer comes 100 simulated seconds after the token, ten heartbeat periods.
func TestRunnerHeartbeatOption(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ignore     bool
		wantStatus string
		wantAnswer error
	}{
		{"HeartbeatSeconds enforced", false, "FAILED", &TokenError{Code: "TaskTimedOut"}},
		{"IgnoreHeartbeat", true, "SUCCEEDED", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tokens := make(chan string, 1)
			srv := tokenStub(tokens)
			defer srv.Close()
			rec := newRecorder()
			r, err := Start(context.Background(), rec, Options{Endpoint: srv.URL, TimeScale: 1000, Stderr: os.Stderr, IgnoreHeartbeat: tc.ignore})
			if err != nil {
				t.Skipf("runner unavailable (run make deps): %v", err)
			}
			defer r.Close()
			ctx := context.Background()
			if err := r.Define(ctx, "cb", json.RawMessage(callbackMachine), false); err != nil {
				t.Fatal(err)
			}
			if err := r.StartExecution("cb-e", "cb", json.RawMessage(`{}`), ContextObject{}); err != nil {
				t.Fatal(err)
			}
			token := <-tokens
			time.Sleep(100 * time.Millisecond)
			err = r.Answer(ctx, Answer{Kind: AnswerSuccess, Token: token, Output: `{"late":true}`})
			var te *TokenError
			if tc.wantAnswer == nil && err != nil || tc.wantAnswer != nil && (!errors.As(err, &te) || te.Code != "TaskTimedOut") {
				t.Errorf("answer: got %v, want %v", err, tc.wantAnswer)
			}
			res := rec.wait(t, "cb-e")
			if res.Status != tc.wantStatus || tc.wantStatus == "FAILED" && res.Error != "States.HeartbeatTimeout" {
				t.Errorf("got %+v, want %s", res, tc.wantStatus)
			}
			if err := r.Answer(ctx, Answer{Kind: AnswerHeartbeat, Token: "AAAA"}); !errors.As(err, &te) || te.Code != "InvalidToken" {
				t.Errorf("heartbeat with a made-up token: got %v, want InvalidToken", err)
			}
		})
	}
}
