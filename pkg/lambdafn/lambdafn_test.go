package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

func TestNames(t *testing.T) {
	t.Parallel()
	want := []string{"classify", "plan", "retry", "runtask", "submit", "summary"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	badLimits := config.Config{Table: "t", LimitsJSON: `{"actions": {"ecs:RunTask": {"rate": -1}}}`}
	tests := map[string]struct {
		name string
		cfg  config.Config
		want []string
	}{
		"unknown lists the known":  {name: "clasify", want: []string{`unknown function "clasify"`, "classify, plan, retry, runtask, submit, summary"}},
		"plan without a table":     {name: "plan", want: []string{"build plan", config.EnvTable}},
		"retry without a table":    {name: "retry", want: []string{"build retry", config.EnvTable}},
		"submit without a machine": {name: "submit", want: []string{"build submit", config.EnvStateMachineARN}},
		"runtask with bad limits": {name: "runtask", cfg: badLimits,
			want: []string{"build runtask", config.EnvLimitsJSON + `: limits: actions["ecs:RunTask"].rate: must be > 0, got -1`}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, err := Build(t.Context(), tt.name, Deps{Config: tt.cfg})
			if err == nil {
				t.Fatalf("Build(%q) = %T, want an error", tt.name, h)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestClassifyHandler invokes the registered classify handler with Lambda's
// JSON semantics on every example of functions/classify/testdata.
func TestClassifyHandler(t *testing.T) {
	t.Parallel()
	h, err := Build(t.Context(), "classify", Deps{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "functions", "classify", "testdata")
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		Class failure.Class `json:"class"`
		Code  string        `json:"code"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		payload, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out, err := h.Invoke(context.Background(), payload)
		if err != nil {
			t.Fatalf("%s: handler error %v; classify never fails", name, err)
		}
		var got failure.Classification
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%s: output %s: %v", name, out, err)
		}
		if got.Class != w.Class || got.Code != w.Code {
			t.Errorf("%s: got %s/%s, want %s/%s", name, got.Class, got.Code, w.Class, w.Code)
		}
	}
}

// TestExamplesInSync keeps the function's documented examples identical to
// the classifier's test payloads.
func TestExamplesInSync(t *testing.T) {
	t.Parallel()
	a := filepath.Join("..", "failure", "testdata", "shapes")
	b := filepath.Join("..", "..", "functions", "classify", "testdata")
	list := func(dir string) []string {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range files {
			files[i] = filepath.Base(files[i])
		}
		return files
	}
	fa, fb := list(a), list(b)
	if len(fa) == 0 {
		t.Fatalf("no examples in %s", a)
	}
	if !slices.Equal(fa, fb) {
		t.Fatalf("pkg/failure/testdata/shapes has %v\nfunctions/classify/testdata has %v", fa, fb)
	}
	for _, f := range fa {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between pkg/failure/testdata/shapes and functions/classify/testdata (copy one over the other)", f)
		}
	}
}

// TestRetryNeedsTheRelaunchQueue: retry names TH_RELAUNCH_QUEUE_URL when
// everything else is set.
func TestRetryNeedsTheRelaunchQueue(t *testing.T) {
	t.Parallel()
	cfg := config.Config{Table: "t", EventBus: "b", DLQURL: "http://127.0.0.1:1/000000000000/dlq", Region: "us-east-1", AccountScope: "us-east-1"}
	_, err := Build(t.Context(), "retry", Deps{Config: cfg, AWS: aws.Config{Region: "us-east-1"}})
	if err == nil || !strings.Contains(err.Error(), config.EnvRelaunchQueueURL) {
		t.Fatalf("got %v, want an error naming %s", err, config.EnvRelaunchQueueURL)
	}
	cfg.RelaunchQueueURL = "http://127.0.0.1:1/000000000000/relaunch"
	if _, err := Build(t.Context(), "retry", Deps{Config: cfg, AWS: aws.Config{Region: "us-east-1"}}); err != nil {
		t.Fatalf("full config: %v", err)
	}
}

// TestMetricsWriter: Deps.Metrics receives the handlers' EMF lines.
func TestMetricsWriter(t *testing.T) {
	t.Parallel()
	cfg := config.Config{Table: "t", EventBus: "b", DLQURL: "http://127.0.0.1:1/000000000000/dlq",
		RelaunchQueueURL: "http://127.0.0.1:1/000000000000/relaunch", Region: "us-east-1", AccountScope: "us-east-1"}
	var buf syncBuffer
	h, err := Build(t.Context(), "retry", Deps{Config: cfg, Metrics: &buf, AWS: aws.Config{Region: "us-east-1",
		BaseEndpoint: aws.String("http://127.0.0.1:1"), Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")}})
	if err != nil {
		t.Fatal(err)
	}
	// A throttle service action counts ThrottledAsync before it signals the
	// limiter; the cancelled context keeps the signal off the network.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev := `{"detail-type":"ECS Service Action","source":"aws.ecs","detail":{"eventName":"ECS_OPERATION_THROTTLED"}}`
	if _, err := h.Invoke(ctx, []byte(ev)); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, `"ThrottledAsync":1`) || !strings.Contains(got, `"Function":"retry"`) {
		t.Fatalf("metrics writer got %q, want the ThrottledAsync EMF line of retry", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
