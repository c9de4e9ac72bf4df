package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// fakeS3 serves objects by bucket and key with S3's error codes.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string]map[string][]byte // bucket → key → body
	denied  map[string]bool              // bucket → AccessDenied
	fail    error                        // every call fails with it
	puts    map[string][]byte            // "bucket/key" → body
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, k := aws.ToString(in.Bucket), aws.ToString(in.Key)
	switch {
	case f.fail != nil:
		return nil, f.fail
	case f.denied[b]:
		return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"}
	case f.objects[b] == nil:
		return nil, &smithy.GenericAPIError{Code: "NoSuchBucket", Message: "The specified bucket does not exist"}
	}
	body, ok := f.objects[b][k]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NoSuchKey", Message: "The specified key does not exist."}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(body))}, nil
}

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	if f.puts == nil {
		f.puts = map[string][]byte{}
	}
	f.puts[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)] = body
	return &s3.PutObjectOutput{}, nil
}

// itemLine is item i of the tests: its own command and one variable.
func itemLine(i int) string {
	return fmt.Sprintf(`{"containerOverrides":[{"name":"main","command":["run","%d"],"environment":{"SHARD":"%d"}}]}`, i, i)
}

func jsonl(n int) []byte {
	var b strings.Builder
	for i := range n {
		b.WriteString(itemLine(i) + "\n")
	}
	return []byte(b.String())
}

// itemsRequest is an items request of n tasks, inline or from s3://inputs/jobs.jsonl.
func itemsRequest(t *testing.T, id string, n int, inline bool) []byte {
	t.Helper()
	r := launchtest.ECSRequest(id, n)
	r.ECS.Overrides = &launch.TaskOverride{ContainerOverrides: []launch.ContainerOverride{{Name: "main", Environment: map[string]string{"MODE": "batch"}}}}
	if inline {
		for i := range n {
			var it launch.TaskOverride
			if err := json.Unmarshal([]byte(itemLine(i)), &it); err != nil {
				t.Fatal(err)
			}
			r.ECS.Items = append(r.ECS.Items, it)
		}
	} else {
		r.ECS.ItemsFrom = &launch.S3Ref{Bucket: "inputs", Key: "jobs.jsonl"}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// env of the call's container "main".
func mainEnv(in *ecs.RunTaskInput) (map[string]string, []string) {
	env := map[string]string{}
	for _, c := range in.Overrides.ContainerOverrides {
		if aws.ToString(c.Name) == "main" {
			for _, kv := range c.Environment {
				env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
			}
			return env, c.Command
		}
	}
	return env, nil
}

// TestItemsRequestEndToEnd: an items request (inline and itemsFrom) goes
// through plan and runtask; every RunTask call carries ecs.overrides
// merged with its own item and TH_REQUEST_ID / TH_ARRAY_INDEX, and a
// replay of a call whose answer was lost sends the same overrides.
func TestItemsRequestEndToEnd(t *testing.T) {
	t.Parallel()
	for _, inline := range []bool{true, false} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			t.Parallel()
			const n = 12
			e := newRunTaskEnv(t)
			e.ecs.loseResponse = map[int]bool{4: true}
			ss := &fakeS3{objects: map[string]map[string][]byte{"inputs": {"jobs.jsonl": jsonl(n)}}}
			p := NewPlanHandler(e.st, func(o *HandlerOptions) { o.Clock, o.S3 = e.clk, ss })
			out, err := p.Handle(context.Background(), itemsRequest(t, "r1", n, inline))
			if err != nil {
				t.Fatal(err)
			}
			if out.Count != n {
				t.Fatalf("plan: %d chunks, want %d (one task per chunk)", out.Count, n)
			}
			for c := range n {
				if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: c, Attempt: 1}); err != nil {
					if errorTypeName(err) != "TransientError" {
						t.Fatalf("chunk %d: %v", c, err)
					}
					if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: c, Attempt: 1, ReuseToken: true}); err != nil {
						t.Fatalf("chunk %d replay: %v", c, err)
					}
				}
			}
			calls := e.ecs.Calls()
			if len(calls) != n+1 {
				t.Fatalf("%d calls, want %d (one replay)", len(calls), n+1)
			}
			for k, in := range calls {
				env, cmd := mainEnv(in)
				i, err := strconv.Atoi(env[launch.EnvArrayIndex])
				if err != nil || env[launch.EnvRequestID] != "r1" || env["MODE"] != "batch" || env["SHARD"] != strconv.Itoa(i) ||
					!slices.Equal(cmd, []string{"run", strconv.Itoa(i)}) || aws.ToInt32(in.Count) != 1 {
					t.Fatalf("call %d: env %v command %v count %d", k, env, cmd, aws.ToInt32(in.Count))
				}
				if k == 4 {
					if prev, _ := mainEnv(calls[3]); prev[launch.EnvArrayIndex] != env[launch.EnvArrayIndex] || aws.ToString(calls[3].ClientToken) != aws.ToString(in.ClientToken) {
						t.Fatalf("replay: index %s token %s, first send index %s token %s", env[launch.EnvArrayIndex], aws.ToString(in.ClientToken), prev[launch.EnvArrayIndex], aws.ToString(calls[3].ClientToken))
					}
				}
			}
		})
	}
}

// TestPlanStoresItems: plan writes every item (un-merged) per index before
// it answers, and a retried plan writes the same ones.
func TestPlanStoresItems(t *testing.T) {
	t.Parallel()
	st, _ := newTestStore(t)
	ss := &fakeS3{objects: map[string]map[string][]byte{"inputs": {"jobs.jsonl": jsonl(5)}}}
	p := NewPlanHandler(st, func(o *HandlerOptions) { o.Clock, o.S3 = clock.NewFake(t0), ss })
	for range 2 {
		if _, err := p.Handle(context.Background(), itemsRequest(t, "r1", 5, false)); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			got, err := st.Item(context.Background(), "r1", i)
			if err != nil || string(got) != itemLine(i) {
				t.Fatalf("item %d: %s, %v; want %s", i, got, err, itemLine(i))
			}
		}
	}
}

// TestItemsFromBadInputs: each bad itemsFrom object is a PermanentError
// naming the object, the line and the field, and nothing is stored.
func TestItemsFromBadInputs(t *testing.T) {
	t.Parallel()
	big := `{"containerOverrides":[{"name":"main","command":["` + strings.Repeat("x", 8200) + `"]}]}`
	nearly := `{"containerOverrides":[{"name":"main","command":["` + strings.Repeat("x", 8000) + `"]}]}`
	lines := func(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }
	tests := []struct {
		name  string
		s3    *fakeS3
		want  []string
		class string
	}{
		{"no such key", &fakeS3{objects: map[string]map[string][]byte{"inputs": {}}}, []string{"s3://inputs/jobs.jsonl", "no such object", "NoSuchKey"}, "PermanentError"},
		{"no such bucket", &fakeS3{objects: map[string]map[string][]byte{}}, []string{"s3://inputs/jobs.jsonl", `no such bucket "inputs"`}, "PermanentError"},
		{"access denied", &fakeS3{denied: map[string]bool{"inputs": true}}, []string{"s3://inputs/jobs.jsonl", "access denied", "s3:GetObject"}, "PermanentError"},
		{"fewer lines", obj(lines(itemLine(0), itemLine(1))), []string{"the object has 2 lines, ecs.count is 3"}, "PermanentError"},
		{"more lines", obj(lines(itemLine(0), itemLine(1), itemLine(2), itemLine(3))), []string{"the object has 4 or more lines, ecs.count is 3"}, "PermanentError"},
		{"not JSON", obj(lines(itemLine(0), `{"containerOverrides":`, itemLine(2))), []string{"ecs.itemsFrom line 2: not a task overrides object"}, "PermanentError"},
		{"unknown field", obj(lines(itemLine(0), itemLine(1), `{"containerOverride":[]}`)), []string{"ecs.itemsFrom line 3", `unknown field "containerOverride"`}, "PermanentError"},
		{"container without name", obj(lines(`{"containerOverrides":[{"command":["x"]}]}`, itemLine(1), itemLine(2))), []string{"ecs.itemsFrom line 1: containerOverrides[0].name: required"}, "PermanentError"},
		{"empty line", obj(lines(itemLine(0), "", itemLine(2))), []string{"ecs.itemsFrom line 2: empty"}, "PermanentError"},
		{"line over RunTask's limit", obj(lines(itemLine(0), big, itemLine(2))), []string{"ecs.itemsFrom line 2: must be at most 8192 bytes"}, "PermanentError"},
		{"merged over RunTask's limit", obj(lines(itemLine(0), itemLine(1), nearly)), []string{"ecs.itemsFrom line 3", "RunTask takes at most 8192"}, "PermanentError"},
		{"S3 failing", &fakeS3{fail: &smithy.GenericAPIError{Code: "InternalError", Message: "We encountered an internal error"}}, []string{"s3://inputs/jobs.jsonl", "InternalError"}, "TransientError"},
		{"no S3 client", nil, []string{"s3://inputs/jobs.jsonl", "no S3 client"}, "PermanentError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, mem := newTestStore(t)
			p := NewPlanHandler(st, func(o *HandlerOptions) {
				if tt.s3 != nil {
					o.S3 = tt.s3
				}
			})
			r := itemsRequest(t, "r1", 3, false)
			if tt.name == "merged over RunTask's limit" { // ecs.overrides leaves the item less room
				r = bytes.Replace(r, []byte(`"MODE":"batch"`), []byte(`"MODE":"`+strings.Repeat("b", 300)+`"`), 1)
			}
			_, err := p.Handle(context.Background(), r)
			if errorTypeName(err) != tt.class {
				t.Fatalf("got %T %v, want %s", err, err, tt.class)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if n := mem.Len(); n != 0 {
				t.Errorf("%d items stored for a bad request", n)
			}
		})
	}
}

func obj(body []byte) *fakeS3 {
	return &fakeS3{objects: map[string]map[string][]byte{"inputs": {"jobs.jsonl": body}}}
}

// TestItemNotStoredIsTransient: a chunk whose item is not in the table yet
// makes no call and is retried.
func TestItemNotStoredIsTransient(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	var r launch.Request
	if err := json.Unmarshal(itemsRequest(t, "r1", 2, false), &r); err != nil {
		t.Fatal(err)
	}
	plan(t, e.st, r, t0)
	_, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 1, Attempt: 1})
	var te *failure.TransientError
	if !errors.As(err, &te) || te.Code != "ItemNotFound" || len(e.ecs.Calls()) != 0 {
		t.Fatalf("got %v and %d calls, want ItemNotFound and no call", err, len(e.ecs.Calls()))
	}
}

// countingItems counts the item reads that reach the table.
type countingItems struct {
	launchstore.Store
	mu    sync.Mutex
	reads map[int]int
}

func (c *countingItems) Item(ctx context.Context, requestID string, i int) (json.RawMessage, error) {
	c.mu.Lock()
	c.reads[i]++
	c.mu.Unlock()
	return c.Store.Item(ctx, requestID, i)
}

// TestItemReadOncePerSandbox: a replay of an itemsFrom chunk's call (its
// answer lost) builds its overrides from the sandbox's cache, not the table.
func TestItemReadOncePerSandbox(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	st := &countingItems{Store: e.st, reads: map[int]int{}}
	e.h = NewRunTask(st, e.lim, e.ecs, e.ec2, func(o *RunTaskOptions) { o.Clock = e.clk })
	e.ecs.loseResponse = map[int]bool{1: true}
	ss := &fakeS3{objects: map[string]map[string][]byte{"inputs": {"jobs.jsonl": jsonl(3)}}}
	if _, err := NewPlanHandler(e.st, func(o *HandlerOptions) { o.Clock, o.S3 = e.clk, ss }).Handle(context.Background(), itemsRequest(t, "r1", 3, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 2, Attempt: 1}); errorTypeName(err) != "TransientError" {
		t.Fatalf("first send: %v, want its answer lost", err)
	}
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 2, Attempt: 1, ReuseToken: true}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("replay: %+v, %v", out, err)
	}
	if len(e.ecs.Calls()) != 2 || st.reads[2] != 1 {
		t.Fatalf("%d calls, item 2 read %d times; want 2 calls and one read", len(e.ecs.Calls()), st.reads[2])
	}
}
