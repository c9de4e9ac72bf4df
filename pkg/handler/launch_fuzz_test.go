package handler

import (
	"context"
	"encoding/json"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

// FuzzParseRequest: any bytes either fail with a *ValidationError naming a
// field, or give a valid request whose plan covers exactly the requested
// units, whose identities fit ECS's and EC2's limits, and which survives a
// JSON round trip unchanged.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"requestId":"r","ecs":{"cluster":"jobs","taskDefinition":"job:3","count":25,"launchType":"FARGATE","networkConfiguration":{"awsvpcConfiguration":{"subnets":["subnet-a"]}}}}`,
		`{"requestId":"r","ec2":{"launchTemplate":{"launchTemplateId":"lt-1"},"instanceTypes":["c7g.large"],"subnetIds":["subnet-a"],"count":3},"maxAttempts":8,"deadlineSeconds":60}`,
		`{"requestId":"a/b@c","ecs":{"cluster":"c","taskDefinition":"t","count":100000,"capacityProviderStrategy":[{"capacityProvider":"FARGATE_SPOT","weight":1}]},"caps":{"maxTasks":100000}}`,
		`{"requestId":"","ecs":null}`, `{"requestId":"r","cout":3}`, `[]`, `null`, `{"requestId":"r","ecs":{"count":"3"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := launch.ParseRequest(b)
		if err != nil {
			if !launch.IsValidation(err) {
				t.Fatalf("ParseRequest error %T is not a *ValidationError: %v", err, err)
			}
			for _, p := range err.(*launch.ValidationError).Problems {
				if field, _, ok := strings.Cut(p, ": "); !ok || field == "" {
					t.Fatalf("problem %q does not start with the field it is about", p)
				}
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("parsed request does not validate: %v", err)
		}
		p := launch.NewPlan(r, t0)
		sum := 0
		for _, i := range p.Chunks {
			c, err := r.Chunk(i)
			if err != nil {
				t.Fatalf("chunk %d of the plan: %v", i, err)
			}
			if c.Size < 1 {
				t.Fatalf("chunk %d has size %d", i, c.Size)
			}
			sum += c.Size
		}
		if sum != r.Requested() {
			t.Fatalf("chunks cover %d units, requested %d", sum, r.Requested())
		}
		if _, err := r.Chunk(len(p.Chunks)); err == nil {
			t.Fatalf("chunk %d beyond the plan is accepted", len(p.Chunks))
		}
		checkIdentity(t, r.RequestID, len(p.Chunks)-1, r.Attempts())
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := launch.ParseRequest(again)
		if err != nil {
			t.Fatalf("round trip %s: %v", again, err)
		}
		if launch.Fingerprint(r) != launch.Fingerprint(r2) {
			t.Fatalf("round trip changed the request: %s", again)
		}
	})
}

// FuzzIdentity: startedBy fits ECS (≤ 36 of letters, digits, -/_) and
// parses back; client tokens fit ECS and EC2 (≤ 64 ASCII); for any
// request id.
func FuzzIdentity(f *testing.F) {
	f.Add("nightly-2026-11-22", 0, 1)
	f.Add(strings.Repeat("x", 256), 99999, 50)
	f.Add("é/ü:@+=", 3, 100000)
	f.Fuzz(func(t *testing.T, id string, chunk, attempt int) {
		if chunk < 0 || chunk > launch.MaxECSCount || attempt < 1 || attempt > 1<<30 {
			return
		}
		checkIdentity(t, id, chunk, attempt)
	})
}

func checkIdentity(t *testing.T, id string, chunk, attempt int) {
	t.Helper()
	sb := launch.StartedBy(id, chunk, attempt)
	if len(sb) > 36 || strings.Trim(sb, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/_") != "" {
		t.Fatalf("startedBy %q: ECS allows ≤ 36 letters, digits, -/_", sb)
	}
	got, ok := launch.ParseStartedBy(sb)
	if !ok || got.Chunk != chunk || got.Attempt != attempt || got.RequestHash != launch.RequestHash(id) {
		t.Fatalf("ParseStartedBy(%q) = %+v, %v; want chunk %d attempt %d hash %s", sb, got, ok, chunk, attempt, launch.RequestHash(id))
	}
	tok := launch.ClientToken(id, chunk, attempt)
	if len(tok) == 0 || len(tok) > 64 || !utf8.ValidString(tok) || strings.IndexFunc(tok, func(r rune) bool { return r > 126 || r < 33 }) >= 0 {
		t.Fatalf("client token %q: want 1..64 printable ASCII", tok)
	}
	if tok == launch.ClientToken(id, chunk, attempt+1) {
		t.Fatalf("attempts %d and %d share the token %q", attempt, attempt+1, tok)
	}
}

// retryHandlers are the retry function's two handlers.
type retryHandlers struct {
	chunk *ChunkRetry
	rl    *Relaunch
}

// fuzzRetry is the retry function's handlers over a memory store holding
// one ECS and one EC2 request, for the fuzz targets below (one store per
// target).
func fuzzRetry(f *testing.F, rnd func() float64) (retryHandlers, *fakeECS, *fakeSQS) {
	f.Helper()
	st := launchstore.NewMemory()
	clk := clock.NewFake(t0)
	for _, r := range []launch.Request{launchtest.ECSRequest("fuzz-ecs", 25), launchtest.EC2Request("fuzz-ec2", 5)} {
		if _, err := st.CreateRequest(context.Background(), r, t0); err != nil {
			f.Fatal(err)
		}
	}
	ecsc, sqsc := &fakeECS{}, &fakeSQS{}
	h := retryHandlers{
		chunk: NewChunkRetry(st, &fakeEvents{}, sqsc, func(o *ChunkRetryOptions) {
			o.Clock, o.Rand, o.Bus, o.DLQURL = clk, rnd, "product", "http://127.0.0.1/q"
		}),
		rl: NewRelaunch(st, &fakeLimiter{clk: clk}, ecsc, &fakeEvents{}, sqsc, func(o *RelaunchOptions) {
			o.Clock, o.Rand, o.Bus, o.DLQURL = clk, rnd, "product", "http://127.0.0.1/q"
		}),
	}
	return h, ecsc, sqsc
}

// FuzzRetryPlan: for any classification and attempt the retry decision is
// bounded — an action of retry, failover or giveup; a wait within
// [0, MaxDelay]; a transient (ambiguous) failure keeps the token, a
// definitive one moves past the attempt; never a retry of what is not
// retryable — and bad input is a PermanentError, never a panic.
func FuzzRetryPlan(f *testing.F) {
	var rnd float64
	h, _, _ := fuzzRetry(f, func() float64 { return rnd })
	f.Add("fuzz-ecs", 0, 1, "throttled", "ThrottlingException", 1.0, true, false, "", 0.5)
	f.Add("fuzz-ec2", 0, 3, "capacity", "InsufficientInstanceCapacity", 5.0, true, false, "c7g.large/subnet-a", 0.0)
	f.Add("fuzz-ecs", 1, 2, "transient", "ServerException", 0.0, true, true, "", 1.0)
	f.Add("fuzz-ecs", 0, 9, "permanent", "ClientException", 0.0, false, false, "", 0.2)
	f.Add("nope", -1, 0, "", "", -5.0, true, true, "", 0.9)
	f.Fuzz(func(t *testing.T, id string, chunk, attempt int, class, code string, minDelay float64, retryable, reuse bool, scope string, r float64) {
		if r < 0 || r >= 1 || r != r {
			return
		}
		rnd = r
		c := &failure.Classification{Class: failure.Class(class), Code: code, Retryable: retryable, ReuseToken: reuse,
			MinDelaySeconds: minDelay, ScopeValue: scope, Message: code}
		out, err := h.chunk.Handle(context.Background(), RetryInput{RequestID: id, Chunk: chunk, Attempt: attempt, Classification: c})
		if err != nil {
			if _, ok := err.(*failure.PermanentError); !ok {
				if _, ok := err.(*failure.TransientError); !ok {
					t.Fatalf("error %T is not one of the named types: %v", err, err)
				}
			}
			return
		}
		switch out.Action {
		case ActionRetry, ActionFailover:
			if !retryable && out.Reason != "chunk already ended" {
				t.Fatalf("a non-retryable %s was retried: %+v", class, out)
			}
		case ActionGiveUp:
		default:
			t.Fatalf("action %q", out.Action)
		}
		if out.WaitSeconds < 0 || out.WaitSeconds > 300 {
			t.Fatalf("wait %d s outside [0, MaxDelay 300 s]", out.WaitSeconds)
		}
		if out.Attempt < 1 {
			t.Fatalf("next attempt %d", out.Attempt)
		}
		if out.Action != ActionGiveUp && out.Reason != "chunk already ended" && !reuse && out.Attempt <= max(attempt, 1) {
			t.Fatalf("a definitive failure at attempt %d retries with attempt %d (its token may have launched)", attempt, out.Attempt)
		}
	})
}

// FuzzRetryEvent: any EventBridge envelope reaching retry is parsed
// without panicking; an event that is not one of our tasks failing to
// start launches nothing.
func FuzzRetryEvent(f *testing.F) {
	h, ecsc, _ := fuzzRetry(f, func() float64 { return 0.5 })
	for _, s := range []string{
		`{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{"lastStatus":"STOPPED","stopCode":"TaskFailedToStart","startedBy":"th/0123456789ab/0/1","taskArn":"arn:aws:ecs:us-east-1:000000000000:task/jobs/abc"}}`,
		`{"source":"aws.ecs","detail-type":"ECS Service Action","detail":{"eventName":"ECS_OPERATION_THROTTLED"}}`,
		`{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{"lastStatus":"STOPPED","stopCode":"EssentialContainerExited","startedBy":"th/x"}}`,
		`{"source":"aws.ec2","detail-type":"x"}`, `{"detail-type":null}`, `{"detail-type":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		before := len(ecsc.Calls())
		out, err := invokeEvent(context.Background(), h.rl, b)
		if err != nil {
			return
		}
		var ev struct {
			Detail struct {
				StopCode  string `json:"stopCode"`
				StartedBy string `json:"startedBy"`
			} `json:"detail"`
		}
		_ = json.Unmarshal(b, &ev)
		ours := ev.Detail.StopCode == "TaskFailedToStart" && strings.HasPrefix(ev.Detail.StartedBy, launch.StartedByPrefix)
		if !ours && len(ecsc.Calls()) != before {
			t.Fatalf("event %s (%+v) launched a task", b, out)
		}
	})
}
