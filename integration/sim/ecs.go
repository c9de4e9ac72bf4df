package sim

import (
	"encoding/json"
	"net/http"
	"strings"
)

// ECSTargetPrefix is the X-Amz-Target prefix of every ECS operation.
const ECSTargetPrefix = "AmazonEC2ContainerServiceV20141113."

// ecsProtocol writes AWS JSON 1.1: errors carry the bare shape name in
// __type (the aws-sdk-go-v2 client also accepts "namespace#Name", and strips
// it), with the message in "message".
type ecsProtocol struct{}

func (ecsProtocol) writeResult(w http.ResponseWriter, _ string, reqID string, out any) {
	b, err := json.Marshal(out)
	if err != nil {
		ecsProtocol{}.writeError(w, reqID, errorf(500, "ServerException", "marshal response: %v", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

type ecsErrorDoc struct {
	Type        string   `json:"__type"`
	Message     string   `json:"message"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
}

func (ecsProtocol) writeError(w http.ResponseWriter, reqID string, e *apiError) {
	b, _ := json.Marshal(ecsErrorDoc{Type: e.code, Message: e.message, ResourceIDs: e.resourceIDs})
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

func (ecsProtocol) serverError() *apiError {
	return errorf(500, "ServerException", "Service Unavailable. Please try again later.")
}

// ecsThrottle is ECS's synchronous throttle answer.
func ecsThrottle() *apiError { return errorf(400, "ThrottlingException", "Rate exceeded") }

// ecsOps are the operations the simulator serves. Each decodes its own input.
var ecsOps = map[string]func(s *Sim, body []byte) (any, *apiError){
	"RunTask":                (*Sim).ecsRunTask,
	"DescribeTasks":          (*Sim).ecsDescribeTasks,
	"ListTasks":              (*Sim).ecsListTasks,
	"StopTask":               (*Sim).ecsStopTask,
	"DescribeClusters":       (*Sim).ecsDescribeClusters,
	"DescribeTaskDefinition": (*Sim).ecsDescribeTaskDefinition,
}

// ECSHandler serves ECS's AWS JSON 1.1 protocol.
func (s *Sim) ECSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), ECSTargetPrefix)
		body, err := readBody(r)
		p := ecsProtocol{}
		h := ecsOps[op]
		if h == nil || err != nil {
			s.serve(w, r, p, "ecs", op, func() (any, *apiError) {
				if err != nil {
					return nil, errorf(400, "SerializationException", "read body: %v", err)
				}
				return nil, errorf(400, "UnknownOperationException", "awslocal does not serve ECS %s", op)
			})
			return
		}
		s.serve(w, r, p, "ecs", op, func() (any, *apiError) { return h(s, body) })
	})
}

// decodeJSON decodes an ECS request body, answering SerializationException
// as the service does for malformed JSON.
func decodeJSON(body []byte, v any) *apiError {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(400, "SerializationException", "%v", err)
	}
	return nil
}
