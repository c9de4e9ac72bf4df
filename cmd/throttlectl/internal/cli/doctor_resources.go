package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/statemachines"
)

// resource is one of the product's named resources: its check, what it
// is, and the variable and flag that name it.
type resource struct{ check, what, env, flag, value string }

// describe calls a named resource's Describe*: a failed check when
// nothing named it (the fix names the variable, the flag and the stack)
// or the call failed (the fix: deploy, or fix the variable).
func describe[T any](r resource, action string, call func() (T, error)) (T, *Check) {
	var zero T
	if r.value == "" {
		fix := "set " + r.env
		if r.flag != "" {
			fix += " or pass --" + r.flag
		}
		return zero, &Check{Name: r.check, Status: statusFail, Detail: r.what + " unknown",
			Fix: fix + ", or pass --stack-name (locally: the export lines of go run ./integration/cmd/awslocal)"}
	}
	out, err := call()
	if err != nil {
		c := errCheck(r.check, action+" "+r.value, err, "deploy the stack (make deploy), or fix "+r.env)
		return zero, &c
	}
	return out, nil
}

// checkStateMachine checks the launch machine is ACTIVE and learns, from
// its deployed definition, the functions it invokes and the Map's
// concurrency.
func (d *doctor) checkStateMachine(ctx context.Context) Check {
	const name = "state machine"
	r := resource{name, "launch state machine", config.EnvStateMachineARN, "state-machine-arn", d.t.machine}
	out, c := describe(r, "states:DescribeStateMachine", func() (*sfn.DescribeStateMachineOutput, error) {
		return d.c.sfn.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(d.t.machine)})
	})
	if c != nil {
		return *c
	}
	if out.Status != "ACTIVE" {
		return Check{Name: name, Status: statusFail, Detail: fmt.Sprintf("%s is %s", d.t.machine, out.Status), Fix: "deploy the stack again (make deploy)"}
	}
	if err := d.learnDefinition(aws.ToString(out.Definition)); err != nil {
		return Check{Name: name, Status: statusFail, Detail: err.Error(), Fix: "deploy this version's launch machine (make deploy)"}
	}
	return Check{Name: name, Status: statusPass, Detail: fmt.Sprintf("%s ACTIVE; Map MaxConcurrency %d; invokes %s",
		d.t.machine, d.t.mapConcurrency, strings.Join(slices.Sorted(maps.Keys(d.t.inMap)), ", "))}
}

// aslState is what doctor reads of a state.
type aslState struct {
	Type           string
	Resource       string
	Parameters     map[string]any
	MaxConcurrency int
	ItemProcessor  *aslMachine
	Iterator       *aslMachine
}

type aslMachine struct{ States map[string]aslState }

// lambdaStates maps each Lambda Task state (by path) to its FunctionName,
// marking those inside a Map, and returns the largest Map MaxConcurrency.
func lambdaStates(m aslMachine, prefix string, inMap bool, fns map[string]string, mapped map[string]bool) int {
	most := 0
	for name, s := range m.States {
		path := prefix + name
		if fn, ok := s.Parameters["FunctionName"].(string); ok && s.Type == "Task" {
			fns[path], mapped[path] = fn, inMap
		} else if s.Type == "Task" && strings.HasPrefix(s.Resource, "arn:aws:lambda:") {
			fns[path], mapped[path] = s.Resource, inMap
		}
		for _, sub := range []*aslMachine{s.ItemProcessor, s.Iterator} {
			if sub != nil {
				most = max(most, s.MaxConcurrency, lambdaStates(*sub, path+"/", true, fns, mapped))
			}
		}
	}
	return most
}

// learnDefinition pairs the deployed definition's function ARNs with the
// repository's placeholders (${PlanFunctionArn} → plan) by state, so the
// functions are known without a stack; a stack's own names win.
func (d *doctor) learnDefinition(deployed string) error {
	raw, err := statemachines.Raw(statemachines.Launch)
	if err != nil {
		return err
	}
	var dm, rm aslMachine
	if err := json.Unmarshal([]byte(deployed), &dm); err != nil {
		return fmt.Errorf("definition is not JSON: %w", err)
	}
	_ = json.Unmarshal(raw, &rm)
	dFns, rFns, mapped := map[string]string{}, map[string]string{}, map[string]bool{}
	d.t.mapConcurrency = lambdaStates(dm, "", false, dFns, mapped)
	lambdaStates(rm, "", false, rFns, map[string]bool{})
	for path, placeholder := range rFns {
		arn, ok := dFns[path]
		if !ok {
			return fmt.Errorf("deployed definition lacks the state %s of this version's launch machine", path)
		}
		fn := strings.ToLower(strings.TrimSuffix(strings.Trim(placeholder, "${}"), "FunctionArn"))
		if _, known := d.t.functions[fn]; !known {
			d.t.functions[fn] = unqualified(arn)
		}
		d.t.inMap[fn] = d.t.inMap[fn] || mapped[path]
	}
	return nil
}

// unqualified drops a version or alias from a function ARN.
func unqualified(arn string) string {
	if parts := strings.Split(arn, ":"); strings.HasPrefix(arn, "arn:") && len(parts) == 8 {
		return strings.Join(parts[:7], ":")
	}
	return arn
}

func (d *doctor) checkBus(ctx context.Context) Check {
	r := resource{"event bus", "product event bus", config.EnvEventBus, "event-bus", d.t.bus}
	out, c := describe(r, "events:DescribeEventBus", func() (*eventbridge.DescribeEventBusOutput, error) {
		return d.c.events.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(d.t.bus)})
	})
	if c != nil {
		return *c
	}
	return Check{Name: r.check, Status: statusPass, Detail: aws.ToString(out.Arn)}
}

func (d *doctor) checkTable(ctx context.Context) Check {
	const name = "table"
	r := resource{name, "product table", config.EnvTable, "table", d.t.table}
	out, c := describe(r, "dynamodb:DescribeTable", func() (*dynamodb.DescribeTableOutput, error) {
		return d.c.dynamo.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.t.table)})
	})
	if c != nil {
		return *c
	}
	if st := out.Table.TableStatus; st != "ACTIVE" && st != "UPDATING" {
		return Check{Name: name, Status: statusFail, Detail: fmt.Sprintf("%s is %s", d.t.table, st), Fix: "wait until it is ACTIVE"}
	}
	return Check{Name: name, Status: statusPass, Detail: fmt.Sprintf("%s %s", d.t.table, out.Table.TableStatus)}
}

// checkQueues checks the dead-letter and relaunch queues and learns the
// relaunch queue's ARN (a rule targets it).
func (d *doctor) checkQueues(ctx context.Context) []Check {
	var out []Check
	for _, q := range []struct {
		r   resource
		arn *string
	}{
		{resource{"dead-letter queue", "dead-letter queue URL", config.EnvDLQURL, "", d.t.dlqURL}, nil},
		{resource{"relaunch queue", "relaunch queue URL", config.EnvRelaunchQueueURL, "", d.t.relaunchURL}, &d.t.relaunchARN},
	} {
		if q.r.value == "" {
			// Not a stack output: known from the stack's resources or the
			// local export lines only.
			out = append(out, Check{Name: q.r.check, Status: statusSkipped, Detail: q.r.what + " unknown: pass --stack-name, or set " + q.r.env})
			continue
		}
		attrs, c := describe(q.r, "sqs:GetQueueAttributes", func() (*sqs.GetQueueAttributesOutput, error) {
			return d.c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.r.value),
				AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		})
		if c != nil {
			out = append(out, *c)
			continue
		}
		arn := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
		if q.arn != nil {
			*q.arn = arn
		}
		out = append(out, Check{Name: q.r.check, Status: statusPass, Detail: arn})
	}
	return out
}

func (d *doctor) checkBucket(ctx context.Context) Check {
	const name = "results bucket"
	if d.t.bucket == "" {
		return Check{Name: name, Status: statusSkipped, Detail: "no results bucket named (" + config.EnvResultsBucket + " unset): results stay in the table"}
	}
	if _, err := d.c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(d.t.bucket), MaxKeys: aws.Int32(1)}); err != nil {
		return errCheck(name, "s3:ListBucket "+d.t.bucket, err, "deploy the stack (make deploy), or fix "+config.EnvResultsBucket)
	}
	return Check{Name: name, Status: statusPass, Detail: d.t.bucket}
}

// checkFunctions checks every known function exists and learns its
// reserved concurrency.
func (d *doctor) checkFunctions(ctx context.Context) Check {
	const name = "functions"
	if len(d.t.functions) == 0 {
		return Check{Name: name, Status: statusSkipped, Detail: "no function known (neither the stack nor the launch machine named them)"}
	}
	var missing, found []string
	for _, fn := range slices.Sorted(maps.Keys(d.t.functions)) {
		out, err := d.c.lambda.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(d.t.functions[fn])})
		if err != nil {
			if apiCode(err) != "ResourceNotFoundException" {
				return errCheck(name, "lambda:GetFunctionConcurrency "+d.t.functions[fn], err, "")
			}
			missing = append(missing, fn+" ("+d.t.functions[fn]+")")
			continue
		}
		label := fn
		if out.ReservedConcurrentExecutions != nil {
			d.t.reserved[fn] = int(*out.ReservedConcurrentExecutions)
			label += fmt.Sprintf(" (reserved %d)", *out.ReservedConcurrentExecutions)
		}
		found = append(found, label)
	}
	if len(missing) > 0 {
		return Check{Name: name, Status: statusFail, Detail: "missing: " + strings.Join(missing, ", "), Fix: "deploy the stack (make deploy): the launch machine or a rule invokes a function that does not exist"}
	}
	return Check{Name: name, Status: statusPass, Detail: strings.Join(found, ", ")}
}
