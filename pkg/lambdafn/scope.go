package lambdafn

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// limiterFunctions build the fleet-wide limiter, whose account scope keys
// the bucket items and selects the "accounts" level of the limits.
var limiterFunctions = []string{"runtask", "retry", "summary"}

// scopedHandler resolves the limiter's account scope "<account>/<region>"
// from the function's own ARN when TH_ACCOUNT_SCOPE is unset: the handler
// is built before any invocation, and only an invocation's context carries
// the ARN (no STS call at cold start). The first invocation rebuilds the
// handler with that scope and every later one uses it; without an ARN in
// the context (a local caller) the region-scoped handler stays.
type scopedHandler struct {
	fallback lambda.Handler
	build    func(ctx context.Context, scope string) (lambda.Handler, error)

	once sync.Once
	h    lambda.Handler
	err  error
}

func (s *scopedHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	s.once.Do(func() {
		s.h = s.fallback
		if scope := scopeOfContext(ctx); scope != "" {
			s.h, s.err = s.build(ctx, scope)
		}
	})
	if s.err != nil {
		return nil, s.err
	}
	return s.h.Invoke(ctx, payload)
}

// scopeOfContext is "<account>/<region>" of the invoked function's ARN
// ("" when the context has none).
func scopeOfContext(ctx context.Context) string {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return ""
	}
	account := submit.AccountOfARN(lc.InvokedFunctionArn)
	parts := strings.SplitN(lc.InvokedFunctionArn, ":", 6)
	if account == "" || len(parts) < 6 || parts[3] == "" {
		return ""
	}
	return config.ScopeOf(account, parts[3])
}

// withScope wraps h in a scopedHandler when the function builds a limiter
// and TH_ACCOUNT_SCOPE was unset; otherwise it returns h.
func withScope(name string, d Deps, h lambda.Handler, build func(context.Context, string, Deps) (lambda.Handler, error)) lambda.Handler {
	if !d.Config.AccountScopeDefault || !slices.Contains(limiterFunctions, name) {
		return h
	}
	return &scopedHandler{fallback: h, build: func(ctx context.Context, scope string) (lambda.Handler, error) {
		d := d
		d.Config.AccountScope, d.Config.AccountScopeDefault = scope, false
		return build(ctx, name, d)
	}}
}
