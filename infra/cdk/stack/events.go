package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/jsii-runtime-go"

	"github.com/throttle-handler/throttle-handler/statemachines"
)

// addRules makes one rule per statemachines/rules/*.json. The pattern is
// written into the template exactly as the file has it (a property
// override, not a re-encoding through EventPattern), so the deployed rule
// and the local EventBridge match with the same bytes.
func (p *parts) addRules(rules []ruleFile) {
	for _, r := range rules {
		props := &awsevents.RuleProps{
			Description: jsii.String(r.Description),
			// Placeholder so the L2 rule validates; replaced below.
			EventPattern: &awsevents.EventPattern{Source: jsii.Strings("placeholder")},
		}
		// Product requests must not be lost: EventBridge's full 24 h / 185
		// attempts. AWS service events are signals and relaunches; stale
		// after an hour, they would only disturb the limiter or relaunch
		// work someone else has already handled.
		retries, maxAge := 185.0, awscdk.Duration_Hours(jsii.Number(24))
		if r.Bus == BusProduct {
			props.EventBus = p.bus
		} else {
			retries, maxAge = 8, awscdk.Duration_Hours(jsii.Number(1))
		}
		rule := awsevents.NewRule(p.scope, jsii.String(ruleID(r.Name)), props)
		rule.Node().DefaultChild().(awsevents.CfnRule).AddPropertyOverride(jsii.String("EventPattern"), r.Pattern)
		if r.Via == statemachines.ViaRelaunchQueue {
			// The queue's event source gives the event 10 receives of
			// retry before its redrive, where an asynchronous invocation
			// gives 3. The target adds the queue policy statement that
			// lets this rule (aws:SourceArn) send to it.
			rule.AddTarget(awseventstargets.NewSqsQueue(p.relaunch, &awseventstargets.SqsQueueProps{
				DeadLetterQueue: p.targetDLQ,
				RetryAttempts:   jsii.Number(retries),
				MaxEventAge:     maxAge,
			}))
			continue
		}
		rule.AddTarget(awseventstargets.NewLambdaFunction(p.functions[r.Target], &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: p.targetDLQ,
			RetryAttempts:   jsii.Number(retries),
			MaxEventAge:     maxAge,
		}))
	}
}

// ruleID is "ecs-task-failed-to-start" → "EcsTaskFailedToStartRule".
func ruleID(name string) string {
	out := []byte{}
	up := true
	for _, c := range []byte(name) {
		if c == '-' || c == '_' || c == '.' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		out = append(out, c)
	}
	return string(out) + "Rule"
}
