package submit

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// answeringSFN is fakeSFN that also answers task tokens.
type answeringSFN struct {
	fakeSFN
	failures []*sfn.SendTaskFailureInput
}

func (f *answeringSFN) SendTaskFailure(_ context.Context, in *sfn.SendTaskFailureInput, _ ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, in)
	return &sfn.SendTaskFailureOutput{}, nil
}

// TestSubmitAnswersRefusedCallback: a LaunchRequested that submit refuses
// for good starts no execution, so its callback is answered here, with the
// error the launch execution would have failed with at plan — an invalid
// request, a requestId already submitted with another request (the second
// sender's token). An accepted request, or one without a callback, is not
// answered here.
func TestSubmitAnswersRefusedCallback(t *testing.T) {
	t.Parallel()
	withToken := func(req, token string) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(req), &m)
		m["callback"] = map[string]any{"taskToken": token}
		b, _ := json.Marshal(m)
		return string(b)
	}
	invalid := strings.Replace(request, `"count": 25`, `"count": 0`, 1)
	f := &answeringSFN{}
	s := New(f, machine)
	ctx := context.Background()
	for _, tc := range []struct {
		detail, token, names string
	}{
		{withToken(request, "tok-1"), "", ""},
		{withToken(invalid, "tok-bad"), "tok-bad", "ecs.count"},
		{withToken(request, "tok-2"), "tok-2", "requestId"}, // another request under nightly-1
		{invalid, "", ""},
	} {
		before := len(f.failures)
		_, err := s.Handle(ctx, envelope(tc.detail))
		got := f.failures[before:]
		if tc.token == "" {
			if len(got) != 0 {
				t.Fatalf("%s: answered %+v, want nothing", tc.detail, got)
			}
			continue
		}
		name, cause := launch.FunctionError(err)
		if len(got) != 1 || aws.ToString(got[0].TaskToken) != tc.token || aws.ToString(got[0].Error) != "PermanentError" ||
			aws.ToString(got[0].Error) != name || aws.ToString(got[0].Cause) != cause || !strings.Contains(cause, tc.names) {
			t.Fatalf("%s: answered %+v; want %s failed with %s %s", tc.detail, got, tc.token, name, cause)
		}
	}
}
