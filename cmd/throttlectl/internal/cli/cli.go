package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Env is what a run of throttlectl sees of the world. Zero fields take the
// process's own (os.Stdin, os.Stdout, os.Stderr, os.Getenv) and the
// product's registry (lambdafn.Build, lambdafn.Names).
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Build  func(ctx context.Context, name string, d lambdafn.Deps) (lambda.Handler, error)
	Names  func() []string
	// Clock paces the calls cancel --stop-launched makes (the limiter's
	// slots are on it); default the wall clock, the local stack's scaled
	// clock in tests.
	Clock clock.Clock
}

func (e Env) fill() Env {
	if e.Stdin == nil {
		e.Stdin = os.Stdin
	}
	if e.Stdout == nil {
		e.Stdout = os.Stdout
	}
	if e.Stderr == nil {
		e.Stderr = os.Stderr
	}
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
	if e.Build == nil {
		e.Build = lambdafn.Build
	}
	if e.Names == nil {
		e.Names = lambdafn.Names
	}
	if e.Clock == nil {
		e.Clock = clock.Real{}
	}
	return e
}

// Globals are the aws-CLI-like global flags.
type Globals struct {
	Region      string
	Profile     string
	EndpointURL string
	Output      string
}

func (g *Globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.Region, "region", g.Region, "AWS region (default: AWS_REGION, the profile's, us-east-1)")
	fs.StringVar(&g.Profile, "profile", g.Profile, "shared config profile")
	fs.StringVar(&g.EndpointURL, "endpoint-url", g.EndpointURL, "endpoint for every AWS service, e.g. the local stack's http://127.0.0.1:PORT")
	fs.StringVar(&g.Output, "output", g.Output, "output format: json or table")
}

func (g Globals) validate() error {
	switch g.Output {
	case "json", "table":
		return nil
	}
	return fmt.Errorf("--output: must be json or table, got %q", g.Output)
}

// App is one run: its environment and global flags.
type App struct {
	Env
	Globals
}

// usageError is an error that exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef reports a usage error.
func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// Run runs throttlectl with args (without the program name) and returns
// the exit code.
func Run(ctx context.Context, args []string, env Env) int {
	app := &App{Env: env.fill(), Globals: Globals{Output: "json"}}
	fs := flag.NewFlagSet("throttlectl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	app.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			app.usage(app.Stdout)
			return ExitOK
		}
		return app.fail(usagef("%v", err))
	}
	rest := fs.Args()
	if len(rest) == 0 {
		app.usage(app.Stderr)
		return ExitUsage
	}
	cmd, ok := lookup(rest[0])
	if !ok && rest[0] == "demo" {
		return app.fail(usagef("unknown command \"demo\": the local demo is `make demo` (go run ./integration/cmd/demo); throttlectl talks only to AWS"))
	}
	if !ok {
		return app.fail(usagef("unknown command %q (commands: %s)", rest[0], strings.Join(commandNames(), ", ")))
	}
	return app.fail(cmd.Run(ctx, app, rest[1:]))
}

// fail prints err and returns its exit code; a nil err is success.
func (a *App) fail(err error) int {
	if err == nil {
		return ExitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.Stderr, "throttlectl: %s\nRun 'throttlectl help' for usage.\n", ue.msg)
		return ExitUsage
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(a.Stderr, "throttlectl: %v\n", err)
	return ExitFailure
}

// exitError ends a run with a code after its output is already written.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// flags returns a command's flag set with the global flags registered on
// it too, so they may follow the command name.
func (a *App) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.register(fs)
	return fs
}

// parse parses a command's flags; errors are usage errors.
func (a *App) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		// throttlectl <command> -h: the command's usage and flags on stdout.
		if c, ok := lookup(fs.Name()); ok {
			fmt.Fprintf(a.Stdout, "usage: throttlectl %s\n\n%s\n\nflags:\n", c.Usage, c.Synopsis)
		}
		fs.SetOutput(a.Stdout)
		fs.PrintDefaults()
		return &exitError{ExitOK}
	} else if err != nil {
		return usagef("%s: %v", fs.Name(), err)
	}
	if err := a.validate(); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// Deps builds the handler dependencies from the environment and the
// global flags: pkg/config from the TH_* variables, the AWS configuration
// from the SDK's default chain with --region, --profile and
// --endpoint-url (or AWS_ENDPOINT_URL) applied, static credentials from
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when no --profile is given, a JSON logger on stderr, the wall clock.
func (a *App) Deps(ctx context.Context) (lambdafn.Deps, error) {
	cfg, err := config.Load(a.Getenv)
	if err != nil {
		return lambdafn.Deps{}, err
	}
	var opts []func(*awsconfig.LoadOptions) error
	region := a.Region
	if region == "" {
		region = a.Getenv(config.EnvRegion)
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if a.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(a.Profile))
	} else if id := a.Getenv("AWS_ACCESS_KEY_ID"); id != "" {
		// The SDK reads these from the process; reading them through Getenv
		// too keeps a run's environment in one place (tests pass a map).
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(
			id, a.Getenv("AWS_SECRET_ACCESS_KEY"), a.Getenv("AWS_SESSION_TOKEN"))))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return lambdafn.Deps{}, fmt.Errorf("AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = cfg.Region
	}
	cfg.Region = awsCfg.Region
	endpoint := a.EndpointURL
	if endpoint == "" {
		endpoint = a.Getenv("AWS_ENDPOINT_URL")
	}
	if endpoint != "" {
		awsCfg.BaseEndpoint = aws.String(endpoint)
	}
	log := slog.New(slog.NewJSONHandler(a.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	return lambdafn.Deps{Config: cfg, AWS: awsCfg, Clock: clock.Real{}, Logger: log}, nil
}
