package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// runInvoke runs a function's real handler — the value its Lambda main
// starts, from pkg/lambdafn — on an event file (or stdin for "-"), with
// Lambda's JSON semantics (lambda.Handler.Invoke). The response is printed
// on stdout. A handler error prints Lambda's error document
// {"errorMessage","errorType"} on stdout and exits 1; errorType is the Go
// type name without package or "*", as aws-lambda-go reports it, so it is
// the name a Step Functions Retry/Catch would match.
func runInvoke(ctx context.Context, app *App, args []string) error {
	fs := app.flags("invoke")
	timeout := fs.Duration("timeout", 15*time.Minute, "the invocation's deadline, as Lambda gives one (max 15m)")
	if err := app.parse(fs, args); err != nil {
		return err
	}
	pos := fs.Args()
	if len(pos) != 2 {
		return usagef("invoke: want <function> <event-file|->, got %d argument(s)", len(pos))
	}
	if *timeout <= 0 || *timeout > 15*time.Minute {
		return usagef("invoke: --timeout: must be in (0, 15m], got %s", *timeout)
	}
	name, file := pos[0], pos[1]
	if !slices.Contains(app.Names(), name) {
		return usagef("invoke: unknown function %q (functions: %s)", name, strings.Join(app.Names(), ", "))
	}
	payload, err := app.readEvent(file)
	if err != nil {
		return usagef("invoke: event %s: %v", file, err)
	}
	deps, err := app.Deps(ctx)
	if err != nil {
		return err
	}
	h, err := app.Build(ctx, name, deps)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       requestID(),
		InvokedFunctionArn: "arn:aws:lambda:" + deps.Config.Region + ":000000000000:function:" + name,
	})
	out, err := invoke(ctx, h, payload)
	if err != nil {
		doc, _ := json.Marshal(ErrorDocument(err))
		fmt.Fprintf(app.Stdout, "%s\n", doc)
		return &exitError{ExitFailure}
	}
	return app.print(out)
}

func (a *App) readEvent(file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(a.Stdin)
	}
	return os.ReadFile(file)
}

// invoke calls h, turning a panic into an error as the Lambda runtime
// does.
func invoke(ctx context.Context, h lambda.Handler, payload []byte) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = messages.InvokeResponse_Error{Type: typeName(v), Message: fmt.Sprint(v), ShouldExit: true}
		}
	}()
	out, err = h.Invoke(ctx, payload)
	// The handler's buffer may be pooled and reused: keep a copy.
	return bytes.Clone(out), err
}

// ErrorDocument is the error document Lambda returns for err: errorType is
// the Go type name without package or "*" (aws-lambda-go's rule), unless
// err already is a messages.InvokeResponse_Error.
func ErrorDocument(err error) messages.InvokeResponse_Error {
	switch e := err.(type) {
	case messages.InvokeResponse_Error:
		return messages.InvokeResponse_Error{Message: e.Message, Type: e.Type, StackTrace: e.StackTrace}
	case *messages.InvokeResponse_Error:
		return messages.InvokeResponse_Error{Message: e.Message, Type: e.Type, StackTrace: e.StackTrace}
	}
	return messages.InvokeResponse_Error{Message: err.Error(), Type: typeName(err)}
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "throttlectl-" + hex.EncodeToString(b[:])
}

// print writes a handler's JSON response in the --output format.
func (a *App) print(out []byte) error {
	if a.Output == "table" {
		var obj map[string]any
		if json.Unmarshal(out, &obj) == nil && obj != nil {
			return a.table(obj)
		}
	}
	out = bytes.TrimRight(out, "\n")
	_, err := fmt.Fprintf(a.Stdout, "%s\n", out)
	return err
}

// table prints a JSON object as two aligned columns, keys sorted.
func (a *App) table(obj map[string]any) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(a.Stdout, 0, 0, 2, ' ', 0)
	for _, k := range keys {
		v := obj[k]
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		fmt.Fprintf(tw, "%s\t%s\n", k, s)
	}
	return tw.Flush()
}
