package cli

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// Lambda's floor of unreserved concurrency: reservations must leave 100
// ("Lambda quotas"; "Configuring reserved concurrency for a function").
const unreservedMin = 100

// Service Quotas codes doctor reads.
const (
	quotaLambda  = "L-B99A9384" // lambda: Concurrent executions
	quotaFargate = "L-3032A538" // fargate: Fargate On-Demand vCPU resource count
	quotaEC2     = "L-1216C47A" // ec2: Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances (vCPUs)
)

// concurrencyDemand is what the stack's functions without a reservation
// may run at once: every Map iteration is in one Lambda state at a time,
// so the Map's MaxConcurrency when any function it invokes is unreserved,
// plus one for each unreserved function outside it (plan, summary, submit).
func (t target) concurrencyDemand() (int, []string) {
	demand, mapUnreserved := 0, false
	var unreserved []string
	for _, fn := range slices.Sorted(maps.Keys(t.functions)) {
		if _, ok := t.reserved[fn]; ok {
			continue
		}
		unreserved = append(unreserved, fn)
		if t.inMap[fn] {
			mapUnreserved = true
		} else {
			demand++
		}
	}
	if mapUnreserved {
		demand += t.mapConcurrency
	}
	return demand, unreserved
}

// checkConcurrency passes when the account's unreserved concurrency
// (GetAccountSettings, after every reservation in the account) covers
// both the stack's unreserved demand and Lambda's floor of 100.
func (d *doctor) checkConcurrency(ctx context.Context) Check {
	const name = "lambda concurrency"
	out, err := d.c.lambda.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		return errCheck(name, "lambda:GetAccountSettings", err, "")
	}
	limit, free := int(out.AccountLimit.ConcurrentExecutions), int(aws.ToInt32(out.AccountLimit.UnreservedConcurrentExecutions))
	for fn, n := range d.t.reserved {
		if n == 0 {
			return Check{Name: name, Status: statusFail, Detail: fn + " has reserved concurrency 0: it never runs",
				Fix: "aws lambda delete-function-concurrency --function-name " + d.t.functions[fn] + ", or deploy the stack again"}
		}
	}
	if d.t.mapConcurrency == 0 {
		// Without the Map's concurrency the demand would count one per
		// function: a pass that means nothing.
		return Check{Name: name, Status: statusSkipped, Detail: fmt.Sprintf("account limit %d, %d unreserved; the launch machine's definition was not read (see its check), so the Map's concurrency is unknown", limit, free)}
	}
	demand, unreserved := d.t.concurrencyDemand()
	need := max(demand, unreservedMin)
	detail := fmt.Sprintf("account limit %d, %d unreserved; the stack reserves %s; its unreserved functions (%s) need %d at once (Map MaxConcurrency %d), and Lambda keeps %d unreserved: %d needed",
		limit, free, reservations(d.t.reserved), strings.Join(unreserved, ", "), demand, d.t.mapConcurrency, unreservedMin, need)
	if free >= need {
		return Check{Name: name, Status: statusPass, Detail: detail}
	}
	short := need - free
	return Check{Name: name, Status: statusFail, Detail: detail, Fix: fmt.Sprintf(
		"raise the Lambda quota Concurrent executions to at least %d (aws service-quotas request-service-quota-increase --service-code lambda --quota-code %s --desired-value %d), or free %d: lower the stack's reservations (runTaskConcurrency, retryConcurrency), other functions' reservations in the account, or the launch Map's MaxConcurrency",
		limit+short, quotaLambda, limit+short, short)}
}

func reservations(r map[string]int) string {
	if len(r) == 0 {
		return "nothing"
	}
	var parts []string
	for _, fn := range slices.Sorted(maps.Keys(r)) {
		parts = append(parts, fmt.Sprintf("%s %d", fn, r[fn]))
	}
	return strings.Join(parts, ", ")
}

// quota reads one applied quota; ok false (and a skipped check) when the
// endpoint does not have it.
func (d *doctor) quota(ctx context.Context, name, service, code string) (float64, *Check) {
	out, err := d.c.quotas.GetServiceQuota(ctx, &servicequotas.GetServiceQuotaInput{ServiceCode: aws.String(service), QuotaCode: aws.String(code)})
	if apiCode(err) == "NoSuchResourceException" {
		return 0, &Check{Name: name, Status: statusSkipped, Detail: fmt.Sprintf("quota %s/%s not found (the local AWS answers so for a quota it does not enforce)", service, code)}
	}
	if err != nil {
		c := errCheck(name, "servicequotas:GetServiceQuota "+service+"/"+code, err, "")
		return 0, &c
	}
	return aws.ToFloat64(out.Quota.Value), nil
}

// quotaAndBurst reads a quota and the burst of the limiter bucket that
// fills it, as configured (TH_LIMITS_JSON); a check when either cannot be
// read.
func (d *doctor) quotaAndBurst(ctx context.Context, name, service, code, bucket string) (quota, burst float64, c *Check) {
	q, skip := d.quota(ctx, name, service, code)
	if skip != nil {
		return 0, 0, skip
	}
	lims, err := limiter.ParseLimits(d.cfg.LimitsJSON)
	if err != nil {
		return 0, 0, &Check{Name: name, Status: statusFail, Detail: err.Error(), Fix: "fix TH_LIMITS_JSON"}
	}
	b, err := lims.Bucket(d.cfg.AccountScope, bucket)
	if err != nil {
		return 0, 0, &Check{Name: name, Status: statusFail, Detail: err.Error(), Fix: "fix TH_LIMITS_JSON"}
	}
	return q, b.Burst, nil
}

// checkFargateQuota: the Fargate On-Demand vCPU quota must hold what the
// limiter starts at once — the ecs:FargateTasks bucket's burst (or
// --tasks) at the largest task definition's vCPU — or launches meet the
// quota and wait.
func (d *doctor) checkFargateQuota(ctx context.Context) Check {
	const name = "quota fargate vcpu"
	if d.t.template && !d.t.ecs && d.f.tasks == 0 {
		return Check{Name: name, Status: statusSkipped, Detail: "the stack runs no ECS task definitions (pass --tasks to check anyway)"}
	}
	q, burst, c := d.quotaAndBurst(ctx, name, "fargate", quotaFargate, limiter.ECSFargateTasks)
	if c != nil {
		return *c
	}
	tasks, what := int(burst), fmt.Sprintf("the %s burst of %g tasks", limiter.ECSFargateTasks, burst)
	if d.f.tasks > 0 {
		tasks, what = d.f.tasks, fmt.Sprintf("--tasks %d", d.f.tasks)
	}
	vcpu, sized := d.taskVCPU(ctx)
	need := float64(tasks) * vcpu
	detail := fmt.Sprintf("quota %g vCPU; %s at %g vCPU (%s) need %g", q, what, vcpu, sized, need)
	if q >= need {
		return Check{Name: name, Status: statusPass, Detail: detail}
	}
	fit := int(q / vcpu)
	return Check{Name: name, Status: statusFail, Detail: detail, Fix: fmt.Sprintf(
		"request Fargate On-Demand vCPU resource count of at least %g (aws service-quotas request-service-quota-increase --service-code fargate --quota-code %s --desired-value %g), or lower the %s burst to %d in limitsJson (or run at most %d tasks at once)",
		math.Ceil(need), quotaFargate, math.Ceil(need), limiter.ECSFargateTasks, fit, fit)}
}

// taskVCPU is the largest vCPU size of the task definitions doctor knows
// (DescribeTaskDefinition; a bare family or family:* is its latest
// revision), or Fargate's smallest size, 0.25, when it knows none.
func (d *doctor) taskVCPU(ctx context.Context) (float64, string) {
	best, from := 0.0, ""
	for _, td := range d.t.taskDefs {
		td = strings.TrimSuffix(td, ":*")
		out, err := d.c.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(td)})
		if err != nil || out.TaskDefinition == nil {
			continue
		}
		units, err := strconv.ParseFloat(aws.ToString(out.TaskDefinition.Cpu), 64)
		if err == nil && units/1024 > best {
			best, from = units/1024, td
		}
	}
	if best == 0 {
		return 0.25, "Fargate's smallest size; no task definition read: pass --task-definitions"
	}
	return best, "task definition " + from
}

// checkEC2Quota: when the stack launches EC2 instances (or
// --instance-vcpus is given), the On-Demand Standard vCPU quota must hold
// one RunInstances call's worth — the most the product asks for at once,
// min(100 instances, the ec2:Instances burst) — at --instance-vcpus.
func (d *doctor) checkEC2Quota(ctx context.Context) Check {
	const name = "quota ec2 vcpu"
	if !d.t.ec2 && d.f.instanceVCPUs == 0 {
		return Check{Name: name, Status: statusSkipped, Detail: "the stack launches no EC2 instances (pass --instance-vcpus to check anyway)"}
	}
	q, burst, c := d.quotaAndBurst(ctx, name, "ec2", quotaEC2, limiter.EC2Instances)
	if c != nil {
		return *c
	}
	vcpus := d.f.instanceVCPUs
	if vcpus == 0 {
		vcpus = 2
	}
	n := min(float64(launch.ChunkSizeEC2), burst)
	need := n * vcpus
	detail := fmt.Sprintf("quota %g vCPU; one RunInstances call of %g instances at %g vCPU needs %g", q, n, vcpus, need)
	if q >= need {
		return Check{Name: name, Status: statusPass, Detail: detail}
	}
	return Check{Name: name, Status: statusFail, Detail: detail, Fix: fmt.Sprintf(
		"request Running On-Demand Standard instances of at least %g vCPU (aws service-quotas request-service-quota-increase --service-code ec2 --quota-code %s --desired-value %g), or lower the %s burst to %d in limitsJson",
		math.Ceil(need), quotaEC2, math.Ceil(need), limiter.EC2Instances, int(q/vcpus))}
}

// checkRateLimits reports the API rate buckets the limiter assumes: they
// are not Service Quotas and no API reads them, so they are informational.
func (d *doctor) checkRateLimits() Check {
	const name = "api rate limits"
	lims, err := limiter.ParseLimits(d.cfg.LimitsJSON)
	if err != nil {
		return Check{Name: name, Status: statusFail, Detail: err.Error(), Fix: "fix TH_LIMITS_JSON"}
	}
	var parts []string
	for _, b := range []string{limiter.ECSRunTask, limiter.ECSFargateRunTask, limiter.ECSFargateTasks, limiter.EC2RunInstances, limiter.EC2Instances} {
		if l, err := lims.Bucket(d.cfg.AccountScope, b); err == nil {
			parts = append(parts, fmt.Sprintf("%s %g/%g per s", b, l.Burst, float64(l.Rate)))
		}
	}
	return Check{Name: name, Status: statusAssumed, Detail: "not Service Quotas, not readable: the limiter assumes " + strings.Join(parts, ", ") +
		" (AWS's published buckets unless limitsJson raises them; it learns lower rates from throttles)"}
}

// checkRoles checks every role the tasks may be passed exists.
func (d *doctor) checkRoles(ctx context.Context) Check {
	const name = "task roles"
	if len(d.t.roles) == 0 {
		return Check{Name: name, Status: statusSkipped, Detail: "no task roles named (the stack passes none, or pass --task-roles)"}
	}
	var missing, found []string
	for _, r := range d.t.roles {
		_, err := d.c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(r)})
		switch {
		case apiCode(err) == "NoSuchEntity":
			missing = append(missing, r)
		case err != nil:
			return errCheck(name, "iam:GetRole "+r, err, "")
		default:
			found = append(found, r)
		}
	}
	if len(missing) > 0 {
		return Check{Name: name, Status: statusFail, Detail: "missing: " + strings.Join(missing, ", "),
			Fix: "create the roles the task definitions use, or fix taskRoles/instanceProfileRoles and deploy again (make deploy)"}
	}
	return Check{Name: name, Status: statusPass, Detail: strings.Join(found, ", ")}
}
