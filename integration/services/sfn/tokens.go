package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
	"github.com/throttle-handler/throttle-handler/integration/sfnrunner"
)

// Limits of the SendTask* requests (Step Functions API Reference).
const (
	maxTaskToken = 2048
	maxTaskError = 256
	maxTaskCause = 32768
	maxOutput    = 256 * 1024 // bytes, UTF-8
)

func (s *Service) apiSendTask(r *http.Request, op string) (any, error) {
	var in struct {
		TaskToken string  `json:"taskToken"`
		Output    *string `json:"output"`
		Error     string  `json:"error"`
		Cause     string  `json:"cause"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	var err error
	switch op {
	case "SendTaskSuccess":
		output := ""
		if in.Output != nil {
			output = *in.Output
		}
		err = s.SendTaskSuccess(r.Context(), in.TaskToken, output)
	case "SendTaskFailure":
		err = s.SendTaskFailure(r.Context(), in.TaskToken, in.Error, in.Cause)
	default:
		err = s.SendTaskHeartbeat(r.Context(), in.TaskToken)
	}
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// SendTaskSuccess ends the task parked on token with output (JSON) as its
// result. Errors: ValidationException, InvalidOutput, InvalidToken,
// TaskTimedOut.
func (s *Service) SendTaskSuccess(ctx context.Context, token, output string) error {
	if err := checkToken(token); err != nil {
		return err
	}
	if len(output) > maxOutput {
		return awsjson.Errorf(400, "InvalidOutput", "Invalid Output: the output is larger than %d bytes", maxOutput)
	}
	if !json.Valid([]byte(output)) {
		return awsjson.Errorf(400, "InvalidOutput", "Invalid Output: output is not valid JSON")
	}
	return s.answer(ctx, sfnrunner.Answer{Kind: sfnrunner.AnswerSuccess, Token: token, Output: output})
}

// SendTaskFailure fails the task parked on token with errName and cause;
// the state's Retry and Catch apply.
func (s *Service) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	if err := checkToken(token); err != nil {
		return err
	}
	if utf8.RuneCountInString(errName) > maxTaskError {
		return validation("error", maxTaskError)
	}
	if utf8.RuneCountInString(cause) > maxTaskCause {
		return validation("cause", maxTaskCause)
	}
	return s.answer(ctx, sfnrunner.Answer{Kind: sfnrunner.AnswerFailure, Token: token, Error: errName, Cause: cause})
}

// SendTaskHeartbeat restarts the HeartbeatSeconds clock of the task parked
// on token (not its TimeoutSeconds).
func (s *Service) SendTaskHeartbeat(ctx context.Context, token string) error {
	if err := checkToken(token); err != nil {
		return err
	}
	return s.answer(ctx, sfnrunner.Answer{Kind: sfnrunner.AnswerHeartbeat, Token: token})
}

func checkToken(token string) error {
	if token == "" {
		return awsjson.Errorf(400, "ValidationException",
			"1 validation error detected: Value at 'taskToken' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if utf8.RuneCountInString(token) > maxTaskToken {
		return validation("taskToken", maxTaskToken)
	}
	return nil
}

func validation(field string, most int) error {
	return awsjson.Errorf(400, "ValidationException",
		"1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field, most)
}

func (s *Service) answer(ctx context.Context, a sfnrunner.Answer) error {
	err := s.runner.Answer(ctx, a)
	var te *sfnrunner.TokenError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return awsjson.Errorf(400, te.Code, "%s", te.Message)
	default:
		return awsjson.Errorf(500, "InternalFailure", "%s", fmt.Sprint(err))
	}
}
