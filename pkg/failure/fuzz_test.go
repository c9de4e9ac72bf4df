package failure

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/smithy-go"
)

// checkInvariants holds for every classification, whatever the input.
func checkInvariants(t *testing.T, c Classification) {
	t.Helper()
	if !c.Class.Valid() {
		t.Fatalf("class %q is not one of the five", c.Class)
	}
	if c.Retryable != c.Class.Retryable() {
		t.Fatalf("retryable %v for class %s", c.Retryable, c.Class)
	}
	if c.ReuseToken && c.Class != Transient {
		t.Fatalf("reuseToken set for class %s", c.Class)
	}
	if c.ReuseToken && (c.Source == SourceEvent || c.Source == SourceRunTask) {
		t.Fatalf("reuseToken set for source %s", c.Source)
	}
	if math.IsNaN(c.MinDelaySeconds) || math.IsInf(c.MinDelaySeconds, 0) || c.MinDelaySeconds < 0 {
		t.Fatalf("minDelaySeconds = %v", c.MinDelaySeconds)
	}
	if c.Class == Throttled && c.MinDelaySeconds < 1 {
		t.Fatalf("throttled with minDelaySeconds %v < 1", c.MinDelaySeconds)
	}
	if c.Code == "" || c.Message == "" {
		t.Fatalf("empty code %q or message %q", c.Code, c.Message)
	}
	if !utf8.ValidString(c.Message) || len(c.Message) > maxText+64 {
		t.Fatalf("message is not valid UTF-8 or too long (%d bytes)", len(c.Message))
	}
	if c.Scope != ScopeNone && c.Class != Capacity {
		t.Fatalf("scope %s on class %s", c.Scope, c.Class)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var back Classification
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("the output does not read back: %v", err)
	}
}

// seedFiles adds every testdata/shapes payload (optionally filtered by
// name prefix) to a fuzz corpus through add.
func seedFiles(f *testing.F, prefix string, add func([]byte)) {
	files, err := filepath.Glob(filepath.Join("testdata", "shapes", prefix+"*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		if filepath.Base(name) == "expected.json" {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

func FuzzClassify(f *testing.F) {
	seedFiles(f, "", func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"error":{"error":{"Error":"States.Timeout"}}}`))
	f.Add([]byte(`[{"Reason":"RESOURCE:CPU"}]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got := Classify(in)
		checkInvariants(t, got)
		if again := Classify(in); again != got {
			t.Fatalf("not deterministic:\n%+v\n%+v", got, again)
		}
	})
}

func FuzzClassifyStates(f *testing.F) {
	seedFiles(f, "states-", func(b []byte) {
		var p struct{ Error, Cause string }
		if json.Unmarshal(b, &p) == nil {
			f.Add(p.Error, p.Cause)
		}
	})
	f.Fuzz(func(t *testing.T, name, cause string) {
		got := ClassifyStates(name, cause)
		checkInvariants(t, got)
		if again := ClassifyStates(name, cause); again != got {
			t.Fatalf("not deterministic")
		}
	})
}

func FuzzClassifyRunTaskFailure(f *testing.F) {
	seedFiles(f, "runtask-failure-", func(b []byte) {
		var p Failure
		if json.Unmarshal(b, &p) == nil {
			f.Add(p.Reason, p.Detail)
		}
	})
	f.Fuzz(func(t *testing.T, reason, detail string) {
		got := ClassifyRunTaskFailure(reason, detail)
		checkInvariants(t, got)
		if got.ReuseToken || got.Source != SourceRunTask {
			t.Fatalf("reuseToken %v source %s for a failures[] entry", got.ReuseToken, got.Source)
		}
		if again := ClassifyRunTaskFailure(reason, detail); again != got {
			t.Fatalf("not deterministic")
		}
	})
}

func FuzzClassifyEvent(f *testing.F) {
	seedFiles(f, "event-", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, in []byte) {
		got := ClassifyEvent(in)
		checkInvariants(t, got)
		if got.ReuseToken {
			t.Fatalf("reuseToken set for an event")
		}
		if again := ClassifyEvent(in); again != got {
			t.Fatalf("not deterministic")
		}
	})
}

// statusError is a response error with a status, as smithyhttp's.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string       { return e.err.Error() }
func (e *statusError) Unwrap() error       { return e.err }
func (e *statusError) HTTPStatusCode() int { return e.status }

func FuzzClassifyError(f *testing.F) {
	f.Add("ThrottlingException", "Rate exceeded", 400)
	f.Add("InvalidParameterException", "Error retrieving subnet information for [subnet-1]: Rate exceeded (ErrorCode: Throttling)", 400)
	f.Add("InsufficientInstanceCapacity", "We currently do not have sufficient c5.large capacity in the Availability Zone you requested (us-east-1a).", 500)
	f.Add("", "", 0)
	f.Fuzz(func(t *testing.T, code, msg string, status int) {
		err := error(&smithy.GenericAPIError{Code: code, Message: msg})
		if status != 0 {
			err = &statusError{status: status, err: err}
		}
		got := ClassifyError(err)
		checkInvariants(t, got)
		if again := ClassifyError(err); again != got {
			t.Fatalf("not deterministic")
		}
		if bare := ClassifyError(errors.New(msg)); !bare.Class.Valid() {
			t.Fatalf("plain error: class %q", bare.Class)
		}
	})
}

// FuzzNamedRoundTrip checks that a named error's code, op and scope survive
// the trip through a Lambda errorMessage and a Step Functions Cause.
func FuzzNamedRoundTrip(f *testing.F) {
	f.Add(2, "InsufficientInstanceCapacity", "ec2:RunInstances", 2, "c7g.large", "no capacity")
	f.Add(1, "Capacity is unavailable at this time", "ecs:RunTask", 1, "", "")
	f.Add(5, "", "plan", 0, "", "requestId: must not be empty")
	f.Fuzz(func(t *testing.T, classIdx int, code, op string, scopeIdx int, value, msg string) {
		classes := Classes[:]
		scopes := []ScopeKind{ScopeNone, ScopeSubnet, ScopeAZ, ScopeInstanceType, ScopeCluster}
		c := Classification{Class: classes[abs(classIdx)%len(classes)], Code: code, Message: msg}
		if c.Class == Capacity {
			c.Scope, c.ScopeValue = scopes[abs(scopeIdx)%len(scopes)], value
			if c.Scope == ScopeNone {
				c.ScopeValue = ""
			}
		}
		var err error
		if msg != "" {
			err = errors.New(msg)
		}
		named := ErrorFor(c, op, err)
		typeName := strings.TrimPrefix(fmt.Sprintf("%T", named), "*failure.")
		doc, _ := json.Marshal(lambdaErrorDoc{ErrorMessage: named.Error(), ErrorType: typeName})
		got := ClassifyStates(typeName, string(doc))
		checkInvariants(t, got)
		if got.Class != c.Class {
			t.Fatalf("class %s came back as %s", c.Class, got.Class)
		}
		if !utf8.ValidString(code+op+value) || len(named.Error()) > maxText {
			return // clipped or repaired text cannot round-trip exactly
		}
		wantCode := code
		if wantCode == "" {
			wantCode = typeName
		}
		if got.Code != wantCode || got.API != op {
			t.Fatalf("code %q op %q came back as %q %q from %q", code, op, got.Code, got.API, named.Error())
		}
		if c.Class == Capacity && c.Scope != ScopeNone && (got.Scope != c.Scope || got.ScopeValue != c.ScopeValue) {
			t.Fatalf("scope %s %q came back as %s %q from %q", c.Scope, c.ScopeValue, got.Scope, got.ScopeValue, named.Error())
		}
	})
}

func abs(i int) int {
	if i < 0 {
		if i == math.MinInt {
			return 0
		}
		return -i
	}
	return i
}
