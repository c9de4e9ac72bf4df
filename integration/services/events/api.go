package events

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
)

const contentType = "application/x-amz-json-1.1"

type entry struct {
	Source       string   `json:"Source"`
	DetailType   string   `json:"DetailType"`
	Detail       string   `json:"Detail"`
	EventBusName string   `json:"EventBusName"`
	Resources    []string `json:"Resources"`
	Time         *float64 `json:"Time"`
}

// ServeHTTP serves AWSEvents.PutEvents and the read operations of
// describe.go.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := awsjson.Operation(r)
	if s.serveRead(w, r, op) {
		return
	}
	if op != "PutEvents" {
		awsjson.WriteError(w, contentType, awsjson.Errorf(400, "UnknownOperationException", "awslocal does not implement EventBridge %s", op))
		return
	}
	var in struct {
		Entries []entry `json:"Entries"`
	}
	if err := awsjson.Decode(r, &in, "SerializationException"); err != nil {
		awsjson.WriteError(w, contentType, err)
		return
	}
	if n := len(in.Entries); n < 1 || n > 10 {
		awsjson.WriteError(w, contentType, awsjson.Errorf(400, "ValidationException",
			"1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1"))
		return
	}
	total := 0
	for _, e := range in.Entries {
		total += len(e.Source) + len(e.DetailType) + len(e.Detail) + len(e.EventBusName)
		for _, res := range e.Resources {
			total += len(res)
		}
	}
	if total > 256*1024 {
		awsjson.WriteError(w, contentType, awsjson.Errorf(400, "ValidationException", "Total size of the entries in the request is over the limit."))
		return
	}
	now := s.o.Clock.Now()
	results := make([]map[string]string, 0, len(in.Entries))
	failed := 0
	for _, e := range in.Entries {
		id, code, msg := s.putEntry(e, now)
		if code != "" {
			failed++
			results = append(results, map[string]string{"ErrorCode": code, "ErrorMessage": msg})
			continue
		}
		results = append(results, map[string]string{"EventId": id})
	}
	awsjson.Write(w, contentType, map[string]any{"FailedEntryCount": failed, "Entries": results})
}

// putEntry validates one entry as PutEvents does and routes it; it returns
// the event id or an entry error code and message.
func (s *Service) putEntry(e entry, now time.Time) (string, string, string) {
	switch {
	case e.Source == "":
		return "", "InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."
	case e.DetailType == "":
		return "", "InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument."
	case e.Detail == "":
		return "", "InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."
	case strings.HasPrefix(e.Source, "aws."):
		return "", "NotAuthorizedForSourceException", "Not authorized for the source."
	}
	var detail map[string]json.RawMessage
	if json.Unmarshal([]byte(e.Detail), &detail) != nil {
		return "", "MalformedDetail", "Detail is malformed."
	}
	s.mu.Lock()
	_, ok := s.buses[busName(e.EventBusName)]
	s.mu.Unlock()
	if !ok {
		return "", "ResourceNotFoundException", "Event bus " + e.EventBusName + " does not exist."
	}
	env, err := s.envelope(e, now)
	if err != nil {
		return "", "InternalFailure", err.Error()
	}
	var probe struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(env, &probe)
	if err := s.route(e.EventBusName, env); err != nil {
		return "", "InternalFailure", err.Error()
	}
	return probe.ID, "", ""
}
