package lambdafn

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/handler/wire"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// Deps are what a handler is built from: wire.Deps, so the Lambda mains,
// throttlectl invoke and the local Lambda endpoint build handlers alike.
type Deps = wire.Deps

// builder makes one function's handler.
type builder func(ctx context.Context, d Deps) (lambda.Handler, error)

// function is one line of the registry: the variables its main requires
// (Main fails at start naming the first one missing) and how its handler
// is built.
type function struct {
	required []string
	build    builder
}

// registry is the table of functions: one line per function.
func registry() map[string]function {
	return map[string]function{
		"classify": {nil, func(_ context.Context, d Deps) (lambda.Handler, error) {
			return lambda.NewHandler(NewClassify(d.Logger)), nil
		}},
		"plan": {[]string{config.EnvTable}, func(_ context.Context, d Deps) (lambda.Handler, error) {
			return handlerOf(wire.Plan(d))
		}},
		"runtask": {[]string{config.EnvTable}, func(_ context.Context, d Deps) (lambda.Handler, error) {
			return handlerOf(wire.RunTask(d))
		}},
		"retry": {[]string{config.EnvTable, config.EnvEventBus, config.EnvDLQURL, config.EnvRelaunchQueueURL}, func(_ context.Context, d Deps) (lambda.Handler, error) {
			h, err := wire.Retry(d)
			if err != nil {
				return nil, err
			}
			return newRetryFunction(h), nil
		}},
		"summary": {[]string{config.EnvTable, config.EnvEventBus}, func(_ context.Context, d Deps) (lambda.Handler, error) {
			return handlerOf(wire.Summary(d))
		}},
		"submit": {[]string{config.EnvStateMachineARN}, func(_ context.Context, d Deps) (lambda.Handler, error) {
			if d.Config.StateMachineARN == "" {
				return nil, fmt.Errorf("submit: %s is required but not set", config.EnvStateMachineARN)
			}
			s := submit.New(sfn.NewFromConfig(d.AWS), d.Config.StateMachineARN, func(o *submit.Options) { o.Logger = d.Logger })
			return lambda.NewHandler(s.Handle), nil
		}},
	}
}

// typed is a handler value with one typed entry point (the launch
// handlers).
type typed[TIn, TOut any] interface {
	Handle(context.Context, TIn) (TOut, error)
}

// handlerOf adapts a wire builder's answer: the handler's Handle method,
// as aws-lambda-go's NewHandler takes it, or the error.
func handlerOf[H typed[TIn, TOut], TIn, TOut any](h H, err error) (lambda.Handler, error) {
	if err != nil {
		return nil, err
	}
	return lambda.NewHandler(h.Handle), nil
}

// lookup returns the named function; an unknown name is an error that
// lists the known ones.
func lookup(name string) (function, error) {
	f, ok := registry()[name]
	if !ok {
		return function{}, fmt.Errorf("lambdafn: unknown function %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return f, nil
}

// Names lists the registered functions, sorted.
func Names() []string {
	names := make([]string, 0, 8)
	for name := range registry() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Build returns the handler of the named function, built from d. An
// unknown name is an error that lists the known ones; a function whose
// configuration is missing says which variable.
func Build(ctx context.Context, name string, d Deps) (lambda.Handler, error) {
	f, err := lookup(name)
	if err != nil {
		return nil, err
	}
	h, err := f.build(ctx, d.Filled())
	if err != nil {
		return nil, fmt.Errorf("lambdafn: build %s: %w", name, err)
	}
	return h, nil
}
