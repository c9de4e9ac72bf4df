package sqs

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
)

type request struct {
	QueueName                   string               `json:"QueueName"`
	QueueNamePrefix             string               `json:"QueueNamePrefix"`
	QueueURL                    string               `json:"QueueUrl"`
	Attributes                  map[string]string    `json:"Attributes"`
	AttributeNames              []string             `json:"AttributeNames"`
	MessageSystemAttributeNames []string             `json:"MessageSystemAttributeNames"`
	MessageAttributeNames       []string             `json:"MessageAttributeNames"`
	MessageBody                 string               `json:"MessageBody"`
	MessageAttributes           map[string]Attribute `json:"MessageAttributes"`
	DelaySeconds                *int                 `json:"DelaySeconds"`
	MaxNumberOfMessages         int                  `json:"MaxNumberOfMessages"`
	VisibilityTimeout           *int                 `json:"VisibilityTimeout"`
	WaitTimeSeconds             int                  `json:"WaitTimeSeconds"`
	ReceiptHandle               string               `json:"ReceiptHandle"`
	Entries                     []batchEntry         `json:"Entries"`
}

type batchEntry struct {
	ID                string               `json:"Id"`
	MessageBody       string               `json:"MessageBody"`
	MessageAttributes map[string]Attribute `json:"MessageAttributes"`
	DelaySeconds      *int                 `json:"DelaySeconds"`
	ReceiptHandle     string               `json:"ReceiptHandle"`
}

func (s *Service) dispatch(r *http.Request) (any, error) {
	var in request
	if err := awsjson.Decode(r, &in, "InvalidParameterValue"); err != nil {
		return nil, err
	}
	switch op := awsjson.Operation(r); op {
	case "CreateQueue":
		url, err := s.CreateQueue(in.QueueName, in.Attributes)
		return map[string]string{"QueueUrl": url}, err
	case "GetQueueUrl":
		q, err := s.lookup(in.QueueName)
		if err != nil {
			return nil, err
		}
		return map[string]string{"QueueUrl": q.url}, nil
	case "ListQueues":
		return map[string]any{"QueueUrls": s.queueNames(in.QueueNamePrefix)}, nil
	case "DeleteQueue":
		q, err := s.lookup(in.QueueURL)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		delete(s.queues, q.name)
		s.mu.Unlock()
		return struct{}{}, nil
	case "PurgeQueue":
		q, err := s.lookup(in.QueueURL)
		if err != nil {
			return nil, err
		}
		q.purge()
		return struct{}{}, nil
	case "SendMessage":
		m, err := s.send(in.QueueURL, in.MessageBody, in.MessageAttributes, delay(in.DelaySeconds))
		if err != nil {
			return nil, err
		}
		out := map[string]string{"MessageId": m.id, "MD5OfMessageBody": m.md5Body}
		if m.md5Attrs != "" {
			out["MD5OfMessageAttributes"] = m.md5Attrs
		}
		return out, nil
	case "SendMessageBatch":
		return s.sendBatch(in)
	case "ReceiveMessage":
		return s.apiReceive(r, in)
	case "DeleteMessage":
		q, err := s.lookup(in.QueueURL)
		if err != nil {
			return nil, err
		}
		if !q.remove(in.ReceiptHandle) && in.ReceiptHandle == "" {
			return nil, awsjson.Errorf(400, "ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
		}
		return struct{}{}, nil
	case "DeleteMessageBatch":
		q, err := s.lookup(in.QueueURL)
		if err != nil {
			return nil, err
		}
		ok := []map[string]string{}
		for _, e := range in.Entries {
			q.remove(e.ReceiptHandle)
			ok = append(ok, map[string]string{"Id": e.ID})
		}
		return map[string]any{"Successful": ok, "Failed": []any{}}, nil
	case "ChangeMessageVisibility":
		q, err := s.lookup(in.QueueURL)
		if err != nil {
			return nil, err
		}
		v := 0
		if in.VisibilityTimeout != nil {
			v = *in.VisibilityTimeout
		}
		if !q.changeVisibility(in.ReceiptHandle, s.o.Clock.Now().Add(time.Duration(v)*time.Second)) {
			return nil, awsjson.Errorf(400, "MessageNotInflight", "Message does not exist or is not available for visibility timeout change.")
		}
		return struct{}{}, nil
	case "GetQueueAttributes":
		return s.apiAttributes(in)
	default:
		return nil, awsjson.Errorf(400, "UnsupportedOperation", "awslocal does not implement SQS %s", op)
	}
}

func delay(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

func (s *Service) sendBatch(in request) (any, error) {
	if len(in.Entries) == 0 {
		return nil, awsjson.Errorf(400, "EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry in the request.")
	}
	if len(in.Entries) > 10 {
		return nil, awsjson.Errorf(400, "TooManyEntriesInBatchRequest", "Maximum number of entries per request are 10. You have sent %d.", len(in.Entries))
	}
	ok, failed := []map[string]string{}, []map[string]any{}
	for _, e := range in.Entries {
		m, err := s.send(in.QueueURL, e.MessageBody, e.MessageAttributes, delay(e.DelaySeconds))
		if err != nil {
			if ae, isAPI := err.(*awsjson.Error); isAPI && ae.Code == "com.amazonaws.sqs#QueueDoesNotExist" {
				return nil, err
			}
			ae, _ := err.(*awsjson.Error)
			failed = append(failed, map[string]any{"Id": e.ID, "SenderFault": true, "Code": ae.Code, "Message": ae.Message})
			continue
		}
		r := map[string]string{"Id": e.ID, "MessageId": m.id, "MD5OfMessageBody": m.md5Body}
		if m.md5Attrs != "" {
			r["MD5OfMessageAttributes"] = m.md5Attrs
		}
		ok = append(ok, r)
	}
	return map[string]any{"Successful": ok, "Failed": failed}, nil
}

func (s *Service) apiReceive(r *http.Request, in request) (any, error) {
	max := in.MaxNumberOfMessages
	if max == 0 {
		max = 1
	}
	if max < 1 || max > 10 {
		return nil, awsjson.Errorf(400, "InvalidParameterValue", "Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", max)
	}
	if in.WaitTimeSeconds < 0 || in.WaitTimeSeconds > 20 {
		return nil, awsjson.Errorf(400, "InvalidParameterValue", "Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", in.WaitTimeSeconds)
	}
	vis := time.Duration(-1)
	if in.VisibilityTimeout != nil {
		vis = time.Duration(*in.VisibilityTimeout) * time.Second
	}
	msgs, err := s.receive(r.Context(), in.QueueURL, max, vis, time.Duration(in.WaitTimeSeconds)*time.Second)
	if err != nil {
		return nil, err
	}
	wantSys := append(append([]string{}, in.AttributeNames...), in.MessageSystemAttributeNames...)
	out := make([]map[string]any, 0, len(msgs))
	for _, m := range msgs {
		doc := map[string]any{"MessageId": m.id, "ReceiptHandle": m.receipt, "MD5OfBody": m.md5Body, "Body": m.body}
		if attrs := systemAttributes(m, wantSys); len(attrs) > 0 {
			doc["Attributes"] = attrs
		}
		if sel := selectAttributes(m.attrs, in.MessageAttributeNames); len(sel) > 0 {
			doc["MessageAttributes"] = sel
			doc["MD5OfMessageAttributes"] = md5OfAttributes(sel)
		}
		out = append(out, doc)
	}
	return map[string]any{"Messages": out}, nil
}

func systemAttributes(m message, want []string) map[string]string {
	all := map[string]string{
		"SenderId":                         "000000000000",
		"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
		"ApproximateReceiveCount":          strconv.Itoa(m.receives),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstRecv.UnixMilli(), 10),
	}
	out := map[string]string{}
	for _, w := range want {
		if w == "All" {
			return all
		}
		if v, ok := all[w]; ok {
			out[w] = v
		}
	}
	return out
}

func selectAttributes(attrs map[string]Attribute, names []string) map[string]Attribute {
	out := map[string]Attribute{}
	for _, n := range names {
		if n == "All" || n == ".*" {
			return attrs
		}
		if len(n) > 2 && n[len(n)-2:] == ".*" {
			for k, v := range attrs {
				if len(k) >= len(n)-2 && k[:len(n)-2] == n[:len(n)-2] {
					out[k] = v
				}
			}
			continue
		}
		if v, ok := attrs[n]; ok {
			out[n] = v
		}
	}
	return out
}

func (s *Service) apiAttributes(in request) (any, error) {
	q, err := s.lookup(in.QueueURL)
	if err != nil {
		return nil, err
	}
	visible, inflight, delayed := q.counts(s.o.Clock.Now())
	all := map[string]string{
		"QueueArn":                              q.arn,
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inflight),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(delayed),
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
		"LastModifiedTimestamp":                 strconv.FormatInt(q.created.Unix(), 10),
		"VisibilityTimeout":                     strconv.Itoa(int(q.visibility / time.Second)),
		"DelaySeconds":                          strconv.Itoa(int(q.delay / time.Second)),
		"MessageRetentionPeriod":                strconv.Itoa(int(q.retention / time.Second)),
		"MaximumMessageSize":                    "262144",
		"ReceiveMessageWaitTimeSeconds":         "0",
	}
	if q.redrive != nil {
		b, _ := json.Marshal(q.redrive)
		all["RedrivePolicy"] = string(b)
	}
	out := map[string]string{}
	for _, n := range in.AttributeNames {
		if n == "All" {
			out = all
			break
		}
		if v, ok := all[n]; ok {
			out[n] = v
		}
	}
	return map[string]any{"Attributes": out}, nil
}
