package lambdafn

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

func withARN(arn string) context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{InvokedFunctionArn: arn})
}

func TestScopeOfContext(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ctx  context.Context
		want string
	}{
		"function ARN":    {withARN("arn:aws:lambda:eu-west-1:111122223333:function:th-runtask"), "111122223333/eu-west-1"},
		"alias ARN":       {withARN("arn:aws:lambda:us-east-1:111122223333:function:th-runtask:live"), "111122223333/us-east-1"},
		"no ARN":          {withARN(""), ""},
		"not an ARN":      {withARN("runtask"), ""},
		"no Lambda value": {context.Background(), ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := scopeOfContext(tc.ctx); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// answer is a handler that answers its name.
type answer string

func (a answer) Invoke(context.Context, []byte) ([]byte, error) { return []byte(a), nil }

// GIVEN a limiter function started without TH_ACCOUNT_SCOPE
// WHEN it is invoked (twice) with its ARN in the context, or without one
// THEN the handler is rebuilt once with "<account>/<region>" of the ARN and
// serves every invocation; without an ARN the region-scoped one serves.
func TestScopedHandler(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ctx       context.Context
		wantScope string
		want      string
	}{
		"deployed": {withARN("arn:aws:lambda:eu-west-1:111122223333:function:th-runtask"), "111122223333/eu-west-1", "scoped"},
		"local":    {context.Background(), "", "fallback"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var scopes []string
			h := &scopedHandler{fallback: answer("fallback"), build: func(_ context.Context, scope string) (lambda.Handler, error) {
				scopes = append(scopes, scope)
				return answer("scoped"), nil
			}}
			for range 2 {
				out, err := h.Invoke(tc.ctx, nil)
				if err != nil || string(out) != tc.want {
					t.Fatalf("got %q, %v; want %q", out, err, tc.want)
				}
			}
			if tc.wantScope == "" && len(scopes) != 0 || tc.wantScope != "" && (len(scopes) != 1 || scopes[0] != tc.wantScope) {
				t.Errorf("builds: got %v, want one with %q", scopes, tc.wantScope)
			}
		})
	}
}

// Only the functions with a limiter, and only when TH_ACCOUNT_SCOPE is
// unset, resolve the scope from their ARN; the rebuilt handler builds.
// (mainHandler: the registry's builders.)
func TestMainScopesLimiterFunctions(t *testing.T) {
	t.Parallel()
	base := map[string]string{config.EnvTable: "t", config.EnvRegion: "eu-west-1"}
	tests := map[string]struct {
		name   string
		scope  string
		scoped bool
	}{
		"runtask, unset":   {name: "runtask", scoped: true},
		"summary, unset":   {name: "summary", scoped: true},
		"runtask, set":     {name: "runtask", scope: "111122223333/eu-west-1"},
		"plan: no limiter": {name: "plan"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{config.EnvEventBus: "b", config.EnvAccountScope: tc.scope}
			for k, v := range base {
				env[k] = v
			}
			h, err := mainHandler(t.Context(), tc.name, config.FromMap(env), nil)
			if err != nil {
				t.Fatal(err)
			}
			s, ok := h.(*scopedHandler)
			if ok != tc.scoped {
				t.Fatalf("scoped: got %v, want %v", ok, tc.scoped)
			}
			if ok {
				if _, err := s.build(t.Context(), "111122223333/eu-west-1"); err != nil {
					t.Fatalf("rebuild: %v", err)
				}
			}
		})
	}
}

// GIVEN runtask's Deps without TH_ACCOUNT_SCOPE
// WHEN its scoped handler serves a first invocation from its ARN
// THEN it is rebuilt from the same Deps but the scope "<account>/<region>"
func TestWithScopeRebuildsWithTheScope(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(config.FromMap(map[string]string{config.EnvTable: "t", config.EnvRegion: "eu-west-1"}))
	if err != nil {
		t.Fatal(err)
	}
	var got []config.Config
	build := func(_ context.Context, name string, d Deps) (lambda.Handler, error) {
		got = append(got, d.Config)
		return answer(name), nil
	}
	h := withScope("runtask", Deps{Config: cfg}, answer("fallback"), build)
	out, err := h.Invoke(withARN("arn:aws:lambda:eu-west-1:111122223333:function:th-runtask"), nil)
	if err != nil || string(out) != "runtask" {
		t.Fatalf("got %q, %v; want the rebuilt runtask", out, err)
	}
	want := cfg
	want.AccountScope, want.AccountScopeDefault = "111122223333/eu-west-1", false
	if len(got) != 1 || got[0] != want {
		t.Errorf("rebuilt with %+v, want %+v", got, want)
	}
}
