package lambdafn

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/launch/wire"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// Deps are what a handler is built from. Config and AWS are required by
// the functions that call AWS; a nil Clock means the wall clock and a nil
// Logger discards.
type Deps struct {
	Config config.Config
	AWS    aws.Config
	Clock  clock.Clock
	Logger *slog.Logger
	// Metrics receives the handlers' EMF lines; nil means os.Stdout
	// (Lambda's log stream). In-process users (demo, bench) route them
	// elsewhere.
	Metrics io.Writer
}

func (d Deps) fill() Deps {
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return d
}

func (d Deps) wire() wire.Deps {
	return wire.Deps{Config: d.Config, AWS: d.AWS, Clock: d.Clock, Logger: d.Logger, Metrics: d.Metrics}
}

// builder makes one function's handler.
type builder func(ctx context.Context, d Deps) (lambda.Handler, error)

// registry is the table of functions: one line per function.
func registry() map[string]builder {
	return map[string]builder{
		"classify": func(_ context.Context, d Deps) (lambda.Handler, error) {
			return lambda.NewHandler(NewClassify(d.Logger)), nil
		},
		"plan": func(_ context.Context, d Deps) (lambda.Handler, error) {
			h, err := wire.Plan(d.wire())
			if err != nil {
				return nil, err
			}
			return lambda.NewHandler(h.Handle), nil
		},
		"runtask": func(_ context.Context, d Deps) (lambda.Handler, error) {
			h, err := wire.RunTask(d.wire())
			if err != nil {
				return nil, err
			}
			return lambda.NewHandler(h.Handle), nil
		},
		"retry": func(_ context.Context, d Deps) (lambda.Handler, error) {
			h, err := wire.Retry(d.wire())
			if err != nil {
				return nil, err
			}
			return newRetryFunction(h), nil
		},
		"summary": func(_ context.Context, d Deps) (lambda.Handler, error) {
			h, err := wire.Summary(d.wire())
			if err != nil {
				return nil, err
			}
			return lambda.NewHandler(h.Handle), nil
		},
		"submit": func(_ context.Context, d Deps) (lambda.Handler, error) {
			if d.Config.StateMachineARN == "" {
				return nil, fmt.Errorf("submit: %s is required but not set", config.EnvStateMachineARN)
			}
			s := submit.New(sfn.NewFromConfig(d.AWS), d.Config.StateMachineARN, func(o *submit.Options) { o.Logger = d.Logger })
			return lambda.NewHandler(s.Handle), nil
		},
	}
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
	b, ok := registry()[name]
	if !ok {
		return nil, fmt.Errorf("lambdafn: unknown function %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	h, err := b(ctx, d.fill())
	if err != nil {
		return nil, fmt.Errorf("lambdafn: build %s: %w", name, err)
	}
	return h, nil
}
