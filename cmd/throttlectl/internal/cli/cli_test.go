package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
)

var examples = filepath.Join("..", "..", "..", "..", "functions", "classify", "testdata")

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env Env, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	env.Stdout, env.Stderr = &out, &errOut
	if env.Getenv == nil {
		vars := map[string]string{"AWS_REGION": "us-east-1"}
		env.Getenv = func(k string) string { return vars[k] }
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	code := Run(t.Context(), args, env)
	return result{code, out.String(), errOut.String()}
}

// TestInvokeClassifyExamples runs `throttlectl invoke classify <file>` on
// every documented example and compares with expected.json.
func TestInvokeClassifyExamples(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(examples, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		Class      failure.Class     `json:"class"`
		Code       string            `json:"code"`
		Scope      failure.ScopeKind `json:"scope"`
		ReuseToken bool              `json:"reuseToken"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) < 40 {
		t.Fatalf("expected.json has %d examples; want every documented shape", len(want))
	}
	for name, w := range want {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			t.Parallel()
			r := run(t, Env{}, "invoke", "classify", filepath.Join(examples, name))
			if r.code != ExitOK {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			var got failure.Classification
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("stdout is not a classification: %v\n%s", err, r.stdout)
			}
			if got.Class != w.Class || got.Code != w.Code || got.Scope != w.Scope || got.ReuseToken != w.ReuseToken {
				t.Errorf("got %s/%s scope=%s reuse=%v, want %s/%s scope=%s reuse=%v",
					got.Class, got.Code, got.Scope, got.ReuseToken, w.Class, w.Code, w.Scope, w.ReuseToken)
			}
		})
	}
}

func TestInvokeStdinAndTable(t *testing.T) {
	t.Parallel()
	in := `{"Error":"ECS.AmazonECSException","Cause":"Rate exceeded. (Service: AmazonECS; Status Code: 400; Error Code: ThrottlingException; Request ID: x)"}`
	r := run(t, Env{Stdin: strings.NewReader(in)}, "invoke", "--output", "table", "classify", "-")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, line := range []string{"class            throttled", "code             ThrottlingException", "retryable        true"} {
		if !strings.Contains(r.stdout, line+"\n") {
			t.Errorf("table output lacks %q:\n%s", line, r.stdout)
		}
	}
}

// fakeBuild builds a handler that fails the way handlers fail.
func fakeBuild(fail func() ([]byte, error)) func(context.Context, string, lambdafn.Deps) (lambda.Handler, error) {
	return func(_ context.Context, _ string, _ lambdafn.Deps) (lambda.Handler, error) {
		return lambda.NewHandler(func(context.Context, json.RawMessage) (json.RawMessage, error) { return fail() }), nil
	}
}

func TestInvokeHandlerError(t *testing.T) {
	t.Parallel()
	names := func() []string { return []string{"runtask"} }
	tests := map[string]struct {
		fail     func() ([]byte, error)
		wantType string
		wantMsg  string
	}{
		"named error": {func() ([]byte, error) {
			return nil, &failure.ThrottledError{Detail: failure.Detail{Code: "ThrottlingException", Op: "ecs:RunTask", Err: errors.New("Rate exceeded")}}
		}, "ThrottledError", "throttled ThrottlingException in ecs:RunTask: Rate exceeded"},
		"wrapped error": {func() ([]byte, error) {
			return nil, fmt.Errorf("chunk 3: %w", &failure.PermanentError{})
		}, "wrapError", "chunk 3: permanent failure"},
		"plain error": {func() ([]byte, error) { return nil, errors.New("boom") }, "errorString", "boom"},
		"panic":       {func() ([]byte, error) { panic("kaboom") }, "string", "kaboom"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := run(t, Env{Build: fakeBuild(tt.fail), Names: names, Stdin: strings.NewReader(`{}`)}, "invoke", "runtask", "-")
			if r.code != ExitFailure {
				t.Fatalf("exit %d, want 1 (stderr %s)", r.code, r.stderr)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("stdout is not an error document: %v\n%s", err, r.stdout)
			}
			if doc["errorType"] != tt.wantType || doc["errorMessage"] != tt.wantMsg {
				t.Errorf("got %v, want errorType %q errorMessage %q", doc, tt.wantType, tt.wantMsg)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(examples, "states-timeout.json")
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"no command":        {nil, ExitUsage, "usage: throttlectl"},
		"unknown command":   {[]string{"frobnicate"}, ExitUsage, `unknown command "frobnicate" (commands: ` + strings.Join(commandNames(), ", ") + ")"},
		"unknown global":    {[]string{"--colour", "invoke"}, ExitUsage, "flag provided but not defined: -colour"},
		"bad output":        {[]string{"--output", "yaml", "invoke", "classify", file}, ExitUsage, "--output: must be json or table"},
		"missing args":      {[]string{"invoke", "classify"}, ExitUsage, "want <function> <event-file|->, got 1"},
		"too many args":     {[]string{"invoke", "classify", file, file}, ExitUsage, "got 3 argument(s)"},
		"unknown function":  {[]string{"invoke", "clasify", file}, ExitUsage, `unknown function "clasify" (functions: classify, plan, retry, runtask, submit, summary)`},
		"missing file":      {[]string{"invoke", "classify", "no/such/event.json"}, ExitUsage, "event no/such/event.json"},
		"bad timeout":       {[]string{"invoke", "--timeout", "1h", "classify", file}, ExitUsage, "--timeout: must be in (0, 15m]"},
		"build fails (env)": {[]string{"invoke", "plan", file}, ExitFailure, "TH_TABLE_NAME is required"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := run(t, Env{}, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d", r.code, tt.code)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing on a usage or build error", r.stdout)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"--help"}} {
		r := run(t, Env{}, args...)
		if r.code != ExitOK || !strings.Contains(r.stdout, "invoke [--timeout 15m] <function> <event-file|->") {
			t.Errorf("%v: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
}

func TestConfigErrorExitsOne(t *testing.T) {
	t.Parallel()
	env := Env{Getenv: func(k string) string {
		if k == "TH_LOG_LEVEL" {
			return "loud"
		}
		return ""
	}}
	r := run(t, env, "invoke", "classify", filepath.Join(examples, "states-timeout.json"))
	if r.code != ExitFailure || !strings.Contains(r.stderr, "TH_LOG_LEVEL") {
		t.Errorf("exit %d stderr %q, want 1 naming TH_LOG_LEVEL", r.code, r.stderr)
	}
}

func TestDepsHonourGlobals(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"AWS_REGION": "us-east-1", "TH_TABLE_NAME": "launches"}
	app := &App{Env: Env{Getenv: func(k string) string { return vars[k] }, Stderr: &bytes.Buffer{}}.fill(),
		Globals: Globals{Region: "eu-west-1", EndpointURL: "http://127.0.0.1:4566", Output: "json"}}
	d, err := app.Deps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.AWS.Region != "eu-west-1" || d.Config.Region != "eu-west-1" {
		t.Errorf("region: aws %q config %q, want eu-west-1 (the flag beats AWS_REGION)", d.AWS.Region, d.Config.Region)
	}
	if d.AWS.BaseEndpoint == nil || *d.AWS.BaseEndpoint != "http://127.0.0.1:4566" {
		t.Errorf("BaseEndpoint = %v, want the --endpoint-url", d.AWS.BaseEndpoint)
	}
	if d.Config.Table != "launches" || d.Logger == nil || d.Clock == nil {
		t.Errorf("deps not filled from the environment: %+v", d.Config)
	}
}
