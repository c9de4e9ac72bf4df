package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// Check statuses. skipped (the check could not run here, detail says why)
// and assumed (informational: a value doctor cannot read and takes as
// configured) do not fail the run unless --strict.
const (
	statusPass    = "pass"
	statusFail    = "fail"
	statusSkipped = "skipped"
	statusAssumed = "assumed"
)

// Check is one line of doctor's report: what was checked, its status, what
// was found and, when it failed, what to do.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// doctorFlags are doctor's own flags.
type doctorFlags struct {
	names
	stack         string
	taskRoles     string
	taskDefs      string
	tasks         int
	instanceVCPUs float64
	strict        bool
	timeout       time.Duration
}

func (f *doctorFlags) register(fs *flag.FlagSet) {
	f.names.register(fs)
	fs.StringVar(&f.stack, "stack-name", "", "the deployed CloudFormation stack: names from its outputs, roles and task definitions from its template (default: the TH_* variables; AWS only: the local AWS has no CloudFormation, so its stack checks are skipped)")
	fs.StringVar(&f.taskRoles, "task-roles", "", "comma-separated IAM roles the tasks are passed (default: the stack's iam:PassRole resources)")
	fs.StringVar(&f.taskDefs, "task-definitions", "", "comma-separated task definitions whose vCPU sizes the quota check (default: the stack's; none: 0.25 vCPU)")
	fs.IntVar(&f.tasks, "tasks", 0, "Fargate tasks to have running at once for the quota check (default: the ecs:FargateTasks bucket's burst)")
	fs.Float64Var(&f.instanceVCPUs, "instance-vcpus", 0, "vCPUs of one EC2 instance for the EC2 quota check (runs when the stack launches EC2 or this is set; default 2)")
	fs.BoolVar(&f.strict, "strict", false, "a skipped check (one that could not run here) fails the run too; by default only a failed check does")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up on the checks after this long")
}

func runDoctor(ctx context.Context, app *App, args []string) error {
	fs := app.flags("doctor")
	var f doctorFlags
	f.register(fs)
	if err := app.parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) != 0 {
		return usagef("doctor: takes no arguments, got %q", strings.Join(fs.Args(), " "))
	}
	if f.tasks < 0 || f.instanceVCPUs < 0 || f.timeout <= 0 {
		return usagef("doctor: --tasks and --instance-vcpus must be ≥ 0 and --timeout > 0")
	}
	d, err := app.Deps(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	checks := newDoctor(newDoctorClients(d.AWS), d.Config, f).run(ctx)
	if err := app.printChecks(checks); err != nil {
		return err
	}
	for _, c := range checks {
		if c.Status == statusFail || (f.strict && c.Status == statusSkipped) {
			return &exitError{ExitFailure}
		}
	}
	return nil
}

// printChecks prints the checks as a JSON list, or as a table with the
// fixes under the failed ones.
func (a *App) printChecks(checks []Check) error {
	if a.Output == "json" {
		return a.emit(checks)
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL")
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, strings.ToUpper(c.Status), c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(tw, "\t\tfix: %s\n", c.Fix)
		}
	}
	return tw.Flush()
}

// doctor runs the checks against one target; what a check learns (the
// functions, the Map's concurrency, the queues' ARNs) feeds the later ones.
type doctor struct {
	c   doctorClients
	cfg config.Config
	f   doctorFlags
	t   target
}

func newDoctor(c doctorClients, cfg config.Config, f doctorFlags) *doctor {
	t := target{machine: f.machine, bus: f.bus, table: f.table, limiterTable: f.limiterTable, functions: map[string]string{}, inMap: map[string]bool{}, reserved: map[string]int{}}
	return &doctor{c: c, cfg: cfg, f: f, t: t}
}

// run runs every check in order.
func (d *doctor) run(ctx context.Context) []Check {
	var out []Check
	out = append(out, d.checkStack(ctx)...)
	d.fillFromEnv()
	out = append(out, d.checkStateMachine(ctx), d.checkBus(ctx), d.checkTable(ctx), d.checkLimiterTable(ctx))
	out = append(out, d.checkQueues(ctx)...)
	out = append(out, d.checkBucket(ctx))
	out = append(out, d.checkRules(ctx)...)
	out = append(out, d.checkFunctions(ctx), d.checkConcurrency(ctx))
	out = append(out, d.checkFargateQuota(ctx), d.checkEC2Quota(ctx), d.checkRateLimits())
	out = append(out, d.checkRoles(ctx))
	return out
}

// fillFromEnv takes what neither the flags nor the stack named from the
// TH_* variables.
func (d *doctor) fillFromEnv() {
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&d.t.machine, d.cfg.StateMachineARN)
	fill(&d.t.bus, d.cfg.EventBus)
	fill(&d.t.table, d.cfg.Table)
	fill(&d.t.dlqURL, d.cfg.DLQURL)
	fill(&d.t.relaunchURL, d.cfg.RelaunchQueueURL)
	fill(&d.t.bucket, d.cfg.ResultsBucket)
	d.limiterFromEnv()
	if d.f.taskRoles != "" {
		d.t.roles = splitList(d.f.taskRoles)
	}
	if d.f.taskDefs != "" {
		d.t.taskDefs = splitList(d.f.taskDefs)
	}
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// apiCode is the AWS error code of err, "" when it has none.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// notServed reports whether the endpoint does not implement the call: the
// local AWS answers so for what only AWS has (CloudFormation).
func notServed(err error) bool {
	switch apiCode(err) {
	case "UnknownOperationException", "InvalidAction", "NotImplemented":
		return true
	}
	return false
}

// errCheck turns a failed call into a check: skipped when the endpoint
// does not serve the call, failed otherwise, with a fix for a denied call.
func errCheck(name, what string, err error, fix string) Check {
	if notServed(err) {
		return Check{Name: name, Status: statusSkipped, Detail: what + ": not served by this endpoint (the local AWS has no such API): " + err.Error()}
	}
	switch code := apiCode(err); {
	case strings.Contains(code, "AccessDenied") || code == "UnauthorizedOperation":
		fix = "allow this caller " + what + " (IAM), then run doctor again"
	case fix == "":
		fix = "see the error; check --region and the credentials"
	}
	return Check{Name: name, Status: statusFail, Detail: what + ": " + err.Error(), Fix: fix}
}
