package cli

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// failureSFN records SendTaskFailure calls and answers them with err.
type failureSFN struct {
	handler.SFNAPI // other calls: not made
	calls          []*sfn.SendTaskFailureInput
	err            error
}

func (f *failureSFN) SendTaskFailure(_ context.Context, in *sfn.SendTaskFailureInput, _ ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error) {
	f.calls = append(f.calls, in)
	return &sfn.SendTaskFailureOutput{}, f.err
}

// TestCancelAnswersCallback: a cancelled request's token gets
// LaunchCancelled with the LaunchCancelled detail as the cause, once (a
// second cancel sends nothing); a refused token is final, not an error; a
// retryable failure is an error (cancel again answers it); a request
// without a callback, or never planned, sends nothing.
func TestCancelAnswersCallback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, tc := range map[string]struct {
		callback bool
		planned  bool
		err      error
		calls    int
		wantErr  bool
	}{
		"answered":       {callback: true, planned: true, calls: 1},
		"refused, final": {callback: true, planned: true, err: &sfntypes.TaskTimedOut{Message: aws.String("late")}, calls: 1},
		"unavailable":    {callback: true, planned: true, err: &smithy.GenericAPIError{Code: "ServiceUnavailable"}, calls: 2, wantErr: true},
		"no callback":    {planned: true},
		"never planned":  {callback: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := launchstore.NewMemory()
			r := launchtest.ECSRequest("c1", 10)
			if tc.callback {
				r.Callback = &launch.Callback{TaskToken: "tok"}
			}
			if tc.planned {
				if _, err := st.CreateRequest(ctx, r, launchtest.T0); err != nil {
					t.Fatal(err)
				}
			}
			api := &failureSFN{err: tc.err}
			d := launch.LaunchCancelledDetail{RequestID: "c1", Requested: 10, Cause: "operator"}
			for range 2 {
				err := answerCancelled(ctx, st, api, d, map[string]any{})
				if (err != nil) != tc.wantErr {
					t.Fatalf("answerCancelled: %v, want error %v", err, tc.wantErr)
				}
			}
			if len(api.calls) != tc.calls {
				t.Fatalf("%d SendTaskFailure calls over two cancels, want %d", len(api.calls), tc.calls)
			}
			if tc.calls == 0 {
				return
			}
			c := api.calls[0]
			var cause launch.LaunchCancelledDetail
			if aws.ToString(c.TaskToken) != "tok" || aws.ToString(c.Error) != handler.ErrLaunchCancelled ||
				json.Unmarshal([]byte(aws.ToString(c.Cause)), &cause) != nil || cause.Cause != "operator" {
				t.Fatalf("call %s %s %s; want LaunchCancelled with the detail", aws.ToString(c.TaskToken), aws.ToString(c.Error), aws.ToString(c.Cause))
			}
		})
	}
}
