package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// limitServices are the services whose bucket items carry the limits.
var limitServices = []string{handler.ServiceECS, handler.ServiceEC2}

// LimitsView is one service's effective limit document: from the table
// (a limits set) or the deployment's initial value (TH_LIMITS_JSON, the
// stack's limitsJson), with the last set or reset's record.
type LimitsView struct {
	Service string `json:"service"`
	// Source is "table" or "initial".
	Source   string          `json:"source"`
	Document json.RawMessage `json:"document"`
	// Version counts the sets and resets (0: never); By and At record the
	// last one.
	Version int64     `json:"version"`
	By      string    `json:"by,omitempty"`
	At      time.Time `json:"at,omitzero"`
}

// limitsCommand is the command's row of the command table.
func limitsCommand() Command {
	return Command{
		Name:     "limits",
		Synopsis: "read or change the limiter's limits in the table, without a redeploy (limitsJson's format, validated as it is; recorded with who and when); every process applies a change at its next acquisition",
		Usage:    limitsUsage,
		Run:      runLimits,
	}
}

const limitsUsage = "limits get [--service ecs|ec2] [--json] | set --file F|- [--by WHO] | reset [--by WHO]   [--table NAME]"

func runLimits(ctx context.Context, app *App, args []string) error {
	if len(args) == 0 {
		return usagef("limits: want get, set or reset")
	}
	switch args[0] {
	case "get":
		return runLimitsGet(ctx, app, args[1:])
	case "set", "reset":
		return runLimitsWrite(ctx, app, args[0], args[1:])
	case "-h", "-help", "--help":
		return app.parse(app.flags("limits"), args)
	}
	return usagef("limits: unknown subcommand %q (want get, set or reset)", args[0])
}

func runLimitsGet(ctx context.Context, app *App, args []string) error {
	fs := app.flags("limits")
	var n names
	n.register(fs)
	service := fs.String("service", "", "one service (ecs or ec2); default both")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := app.parse(fs, args); err != nil {
		return err
	}
	svcs := limitServices
	if *service != "" {
		if !slices.Contains(limitServices, *service) {
			return usagef("limits get: --service: must be ecs or ec2, got %q", *service)
		}
		svcs = []string{*service}
	}
	p, lim, err := limitsLimiter(ctx, app, n)
	if err != nil {
		return err
	}
	var views []LimitsView
	for _, svc := range svcs {
		v, err := limitsView(ctx, lim, svc, p.deps.Config.LimitsJSON)
		if err != nil {
			return err
		}
		views = append(views, v)
	}
	if *asJSON {
		return app.emit(views)
	}
	for _, v := range views {
		printLimits(app.Stdout, v)
	}
	return nil
}

// limitsLimiter resolves the product and the limiter its limits live in.
func limitsLimiter(ctx context.Context, app *App, n names) (*product, *limiter.Distributed, error) {
	p, err := app.product(ctx, n, needTable)
	if err != nil {
		return nil, nil, err
	}
	lim, err := p.limiter()
	return p, lim, err
}

// limitsView reads service's stored document; without one (never set, or
// reset) the initial value applies.
func limitsView(ctx context.Context, lim *limiter.Distributed, service, initial string) (LimitsView, error) {
	st, _, err := lim.StoredLimits(ctx, service)
	if err != nil {
		return LimitsView{}, fmt.Errorf("limits get %s: %w", service, err)
	}
	v := LimitsView{Service: service, Source: "table", Document: json.RawMessage(st.Doc), Version: st.Version, By: st.By, At: st.At}
	if st.Doc == "" {
		v.Source, v.Document = "initial", json.RawMessage(strings.TrimSpace(initial))
		if len(v.Document) == 0 {
			v.Document = json.RawMessage("{}") // the built-in AWS defaults
		}
	}
	return v, nil
}

func printLimits(w io.Writer, v LimitsView) {
	record := "never set"
	if v.Version > 0 {
		record = fmt.Sprintf("version %d, by %s at %s", v.Version, v.By, v.At.UTC().Format(time.RFC3339))
	}
	from := "from the table"
	if v.Source == "initial" {
		from = "the deployment's initial value (" + config.EnvLimitsJSON + ", limitsJson)"
	}
	fmt.Fprintf(w, "%s: %s; %s\n%s\n", v.Service, from, record, v.Document)
}

func runLimitsWrite(ctx context.Context, app *App, verb string, args []string) error {
	fs := app.flags("limits")
	var n names
	n.register(fs)
	by := fs.String("by", "", "who makes the change (default $USER, with the --profile or AWS_PROFILE)")
	file := ""
	if verb == "set" {
		fs.StringVar(&file, "file", "", "the limit document (limitsJson's format); - reads stdin")
	}
	if err := app.parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) > 0 {
		return usagef("limits %s: unexpected argument %q", verb, fs.Arg(0))
	}
	var doc []byte
	if verb == "set" {
		if file == "" {
			return usagef("limits set: --file is required (- for stdin)")
		}
		var err error
		if doc, err = app.readDoc(file); err != nil {
			return err
		}
	}
	_, lim, err := limitsLimiter(ctx, app, n)
	if err != nil {
		return err
	}
	who := cmp.Or(*by, app.caller())
	var st limiter.StoredLimits
	if verb == "set" {
		st, err = lim.SetLimits(ctx, limitServices, string(doc), who)
	} else {
		st, err = lim.ResetLimits(ctx, limitServices, who)
	}
	if err != nil {
		return fmt.Errorf("limits %s: %w", verb, err)
	}
	fmt.Fprintf(app.Stderr, "limits %s: version %d by %s stored for %s; every process applies it at its next acquisition\n",
		verb, st.Version, st.By, strings.Join(limitServices, ", "))
	return nil
}

func (a *App) readDoc(file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(a.Stdin)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, usagef("limits set: --file: %v", err)
	}
	return b, nil
}

// caller is who the CLI runs as, as far as it knows without a call: the
// user, with the profile when one is named.
func (a *App) caller() string {
	who := cmp.Or(a.Getenv("USER"), a.Getenv("USERNAME"), "unknown")
	if prof := cmp.Or(a.Profile, a.Getenv("AWS_PROFILE")); prof != "" {
		who += " (profile " + prof + ")"
	}
	return who
}
