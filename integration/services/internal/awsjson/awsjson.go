// Package awsjson holds what the local services share to speak the AWS JSON
// protocols (awsJson1_0, awsJson1_1 and restJson1 errors): response and error
// writers and request ids.
package awsjson

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// NewID returns a random UUID (version 4), as AWS request and message ids.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Error is an AWS API error as the local services answer it.
type Error struct {
	Status  int    // HTTP status
	Code    string // e.g. ExecutionAlreadyExists
	Message string
	// Fields are extra members of the error document (e.g. Reason).
	Fields map[string]any
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ErrorCode returns the AWS error code, as smithy.APIError does.
func (e *Error) ErrorCode() string { return e.Code }

// HTTPStatus returns the HTTP status the error is answered with.
func (e *Error) HTTPStatus() int { return e.Status }

// Errorf returns an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Write answers v as JSON with the protocol's content type.
func Write(w http.ResponseWriter, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, contentType, Errorf(500, "InternalFailure", "encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", NewID())
	_, _ = w.Write(b)
}

// WriteError answers err as an AWS JSON error document: {"__type","message"}
// plus the X-Amzn-ErrorType header, which every JSON protocol deserializer of
// the SDK reads. A non-*Error is a 500 InternalFailure.
func WriteError(w http.ResponseWriter, contentType string, err error) {
	e, ok := err.(*Error)
	if !ok {
		e = &Error{Status: 500, Code: "InternalFailure", Message: err.Error()}
	}
	doc := map[string]any{}
	for k, v := range e.Fields {
		doc[k] = v
	}
	doc["__type"] = e.Code
	doc["message"] = e.Message
	b, _ := json.Marshal(doc)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.Header().Set("X-Amzn-RequestId", NewID())
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

// Operation returns the operation of an X-Amz-Target header
// ("AWSStepFunctions.StartExecution" → "StartExecution").
func Operation(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	return t
}

// Decode reads a JSON request body into v, or returns a 400 error of code
// code (SerializationException for most services).
func Decode(r *http.Request, v any, code string) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		return Errorf(400, code, "could not parse request body: %v", err)
	}
	return nil
}
