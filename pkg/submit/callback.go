package submit

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// taskFailer answers a task token with a failure; *sfn.Client satisfies
// it (the submit function needs states:SendTaskFailure).
type taskFailer interface {
	SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
}

// answerRefusal answers the callback of a request submit refused for good
// (invalid, or its requestId already submitted with a different request):
// no execution starts, so neither plan nor the summary will. The failure
// is the one the launch execution would have failed with at plan
// (launch.FunctionError: PermanentError and its message). A refusal a
// retry may change (a throttled StartExecution) answers nothing; a client
// that cannot answer tokens (a test's fake) neither. A failed answer is
// logged: the caller's own timeout is then its guard.
func (s *Submitter) answerRefusal(ctx context.Context, request []byte, err error) {
	if _, ok := errors.AsType[*failure.PermanentError](err); !ok {
		return
	}
	tf, ok := s.client.(taskFailer)
	token := launch.CallbackToken(json.RawMessage(request))
	if !ok || token == "" {
		return
	}
	name, cause := launch.FunctionError(err)
	if _, serr := tf.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(token), Error: aws.String(name), Cause: aws.String(cause)}); serr != nil {
		s.log.WarnContext(ctx, "callback of a refused request not answered", "err", serr)
		return
	}
	s.log.InfoContext(ctx, "callback answered", "answer", "failure", "error", name)
}
