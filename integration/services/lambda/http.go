package lambda

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
)

const restJSON = "application/json"

var jsonMarshal = json.Marshal

// ServeHTTP serves POST /2015-03-31/functions/{name}/invocations with the
// invocation types RequestResponse (default), Event and DryRun,
// PutFunctionConcurrency (PUT /2017-10-31/functions/{name}/concurrency),
// GetFunctionConcurrency and GetAccountSettings (settings.go).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.serveSettings(w, r) {
		return
	}
	if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/2017-10-31/functions/"); ok && r.Method == http.MethodPut {
		if name, ok := strings.CutSuffix(rest, "/concurrency"); ok {
			s.servePutConcurrency(w, r, name)
			return
		}
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/2015-03-31/functions/")
	name, tail, _ := strings.Cut(rest, "/")
	if !ok || tail != "invocations" || r.Method != http.MethodPost {
		awsjson.WriteError(w, restJSON, awsjson.Errorf(404, "UnknownOperationException", "awslocal serves only Invoke, PutFunctionConcurrency, GetFunctionConcurrency and GetAccountSettings"))
		return
	}
	name, err := url.PathUnescape(name)
	if err != nil {
		awsjson.WriteError(w, restJSON, awsjson.Errorf(400, "InvalidParameterValueException", "bad function name: %v", err))
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		awsjson.WriteError(w, restJSON, awsjson.Errorf(400, "InvalidRequestContentException", "read payload: %v", err))
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		awsjson.WriteError(w, restJSON, awsjson.Errorf(400, "InvalidRequestContentException", "Could not parse request body into json"))
		return
	}
	switch r.Header.Get("X-Amz-Invocation-Type") {
	case "Event":
		if err := s.InvokeAsync(r.Context(), name, payload); err != nil {
			awsjson.WriteError(w, restJSON, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	case "DryRun":
		if !s.exists(FunctionName(name)) {
			awsjson.WriteError(w, restJSON, awsjson.Errorf(404, "ResourceNotFoundException", "Function not found: %s", s.ARN(FunctionName(name))))
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	resp, err := s.Invoke(r.Context(), name, payload)
	if err != nil {
		if e, ok := err.(*awsjson.Error); ok && e.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		awsjson.WriteError(w, restJSON, err)
		return
	}
	w.Header().Set("Content-Type", restJSON)
	w.Header().Set("X-Amzn-RequestId", resp.RequestID)
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if resp.FunctionError != "" {
		w.Header().Set("X-Amz-Function-Error", resp.FunctionError)
	}
	_, _ = w.Write(resp.Payload)
}

// servePutConcurrency answers PutFunctionConcurrency.
func (s *Service) servePutConcurrency(w http.ResponseWriter, r *http.Request, name string) {
	var in struct{ ReservedConcurrentExecutions *int }
	name, err := url.PathUnescape(name)
	if err == nil {
		err = json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in)
	}
	if err != nil || in.ReservedConcurrentExecutions == nil {
		awsjson.WriteError(w, restJSON, awsjson.Errorf(400, "InvalidParameterValueException", "ReservedConcurrentExecutions is required"))
		return
	}
	if err := s.PutFunctionConcurrency(name, *in.ReservedConcurrentExecutions); err != nil {
		awsjson.WriteError(w, restJSON, err)
		return
	}
	awsjson.Write(w, restJSON, map[string]int{"ReservedConcurrentExecutions": *in.ReservedConcurrentExecutions})
}
