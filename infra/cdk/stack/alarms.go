package stack

import (
	"strings"
	"unicode"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// The functions' EMF metrics are pkg/launch's: namespace
// handler.MetricNamespace, dimension Function = the function's name. Alarms
// and widgets sum each metric over the functions that emit metrics, so they
// do not depend on which handler emits which metric.
const metricDimension = "Function"

var metricFunctions = []string{"plan", "runtask", "retry", "summary"}

// period is the alarms' and dashboard's period. A function, not a package
// variable: a CDK call at package init would start the jsii runtime in every
// binary that imports this package.
func period() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(5)) }

// metric is FILL(m_plan,0) + FILL(m_runtask,0) + … for one EMF metric: its
// total over the functions, 0 where a function emitted none.
func (p *parts) metric(name string) awscloudwatch.IMetric {
	using := map[string]awscloudwatch.IMetric{}
	var terms []string
	for _, fn := range metricFunctions {
		id := metricID(name) + "_" + fn
		using[id] = awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(handler.MetricNamespace), MetricName: jsii.String(name),
			DimensionsMap: &map[string]*string{metricDimension: jsii.String(fn)},
			Statistic:     jsii.String("Sum"), Period: period(),
		})
		terms = append(terms, "FILL("+id+", 0)")
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(strings.Join(terms, " + ")), Label: jsii.String(name),
		Period: period(), UsingMetrics: &using,
	})
}

// metricID is a metric-math ID for a metric name: lowercase first letter,
// letters and digits only ("Limiter.X" → "limiterX").
func metricID(name string) string {
	var b strings.Builder
	for i, r := range name {
		switch {
		case i == 0:
			b.WriteRune(unicode.ToLower(r))
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// addAlarms makes the alarms of the issue and a dashboard of the product's
// metrics. Alarms treat missing data as not breaching: no launches, no
// signal.
func (p *parts) addAlarms() {
	a := p.settings.Alarms
	machine := p.machines[EntryMachine]
	var alarms []awscloudwatch.IAlarm
	alarm := func(id, desc string, m awscloudwatch.IMetric, threshold, periods float64) {
		al := awscloudwatch.NewAlarm(p.scope, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(desc),
			Metric:             m,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(periods),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		alarms = append(alarms, al)
	}
	throttleRate := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("IF(calls > 0, 100 * throttles / calls, 0)"),
		Label:      jsii.String("Throttled launch calls (%)"),
		Period:     period(),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"calls": p.metric(handler.MetricCalls), "throttles": p.metric(handler.MetricThrottledSync),
		},
	})
	alarm("ThrottleRateAlarm", "Launch calls are being throttled: the limits in TH_LIMITS_JSON are above what the account allows, or another tenant shares the buckets.",
		throttleRate, a.ThrottleRatePercent, 3)
	visible := func(q interface {
		MetricApproximateNumberOfMessagesVisible(*awscloudwatch.MetricOptions) awscloudwatch.Metric
	}) awscloudwatch.Metric {
		return q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(1))})
	}
	alarm("DeadLetterQueueAlarm", "Chunks were given up on and dead-lettered, or retry failed on an event after its async retries: read the messages for the reason and redrive.",
		visible(p.dlq), a.DLQDepth, 1)
	alarm("EventDeadLetterQueueAlarm", "EventBridge could not deliver an event to submit/retry, or submit failed on one: requests or relaunches are waiting in the queue.",
		visible(p.targetDLQ), a.DLQDepth, 1)
	alarm("RelaunchDeadLetterQueueAlarm", "A relaunch failed 10 receives of the relaunch queue and was dead-lettered: read the message for the task and redrive it to the relaunch queue.",
		visible(p.relaunchDLQ), a.DLQDepth, 1)
	failed := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("failed + timedOut + aborted"),
		Label:      jsii.String("Launch executions failed, timed out or aborted"),
		Period:     period(),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"failed":   machine.MetricFailed(&awscloudwatch.MetricOptions{Period: period()}),
			"timedOut": machine.MetricTimedOut(&awscloudwatch.MetricOptions{Period: period()}),
			"aborted":  machine.MetricAborted(&awscloudwatch.MetricOptions{Period: period()}),
		},
	})
	alarm("FailedExecutionsAlarm", "Launch executions ended without a summary: see the state machine's log group.", failed, a.FailedExecutions, 1)
	alarm("LimiterStoreAlarm", "The limiter could not read or write its DynamoDB item and admitted nothing: launches wait until it answers (a configuration error, such as access denied or a missing table, does not pass by itself).",
		p.metric(handler.MetricLimiterBusy), a.LimiterBusy, 1)
	own := p.limiterAlarms(alarm) // appends through alarm first
	alarms = append(alarms, own...)

	if p.settings.AlarmTopicArn != "" {
		topic := awssns.Topic_FromTopicArn(p.scope, jsii.String("AlarmTopic"), jsii.String(p.settings.AlarmTopicArn))
		for _, al := range alarms {
			al.(awscloudwatch.Alarm).AddAlarmAction(awscloudwatchactions.NewSnsAction(topic))
		}
	}
	p.addDashboard(alarms, throttleRate)
}

// limiterAlarms are the limiter's own: a store configuration error, and a
// learned rate that stays low.
func (p *parts) limiterAlarms(alarm func(id, desc string, m awscloudwatch.IMetric, threshold, periods float64)) []awscloudwatch.IAlarm {
	alarm("LimiterStoreConfigAlarm", "The limiter's DynamoDB table refused it for a reason waiting will not cure (access denied, no such table, bad credentials): nothing launches until it is fixed.",
		p.metric("Limiter."+string(limiter.MetricStoreConfig)), 1, 1)
	return []awscloudwatch.IAlarm{p.learnedRateAlarm()}
}

// learnedRateAlarm fires when every acquisition for 15 minutes saw a
// learned rate under half the configured one: a limit to raise with AWS,
// or a co-tenant to find.
func (p *parts) learnedRateAlarm() awscloudwatch.IAlarm {
	m := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(handler.MetricNamespace), MetricName: jsii.String("Limiter." + string(limiter.MetricRateRatio)),
		DimensionsMap: &map[string]*string{metricDimension: jsii.String("runtask")},
		Statistic:     jsii.String("Maximum"), Period: period(),
	})
	return awscloudwatch.NewAlarm(p.scope, jsii.String("LearnedRateLowAlarm"), &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String("For 15 minutes the limiter has paced launches at under half the configured rate of their binding bucket: the account's limit is lower than TH_LIMITS_JSON says (ask AWS to raise it, or lower the setting), or another workload shares the bucket."),
		Metric:             m,
		Threshold:          jsii.Number(0.5),
		EvaluationPeriods:  jsii.Number(3),
		ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

func (p *parts) addDashboard(alarms []awscloudwatch.IAlarm, throttleRate awscloudwatch.IMetric) {
	graph := func(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &metrics, Width: jsii.Number(12), Height: jsii.Number(6),
		})
	}
	machine := p.machines[EntryMachine]
	alarmRefs := make([]interfacesawscloudwatch.IAlarmRef, len(alarms))
	for i, a := range alarms {
		alarmRefs[i] = a
	}
	var fnErrors, fnThrottles []awscloudwatch.IMetric
	for _, spec := range functionSpecs {
		fn := p.functions[spec.Name]
		fnErrors = append(fnErrors, fn.MetricErrors(&awscloudwatch.MetricOptions{Label: jsii.String(spec.Name), Period: period()}))
		fnThrottles = append(fnThrottles, fn.MetricThrottles(&awscloudwatch.MetricOptions{Label: jsii.String(spec.Name), Period: period()}))
	}
	awscloudwatch.NewDashboard(p.scope, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		Widgets: &[]*[]awscloudwatch.IWidget{
			{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
				Title: jsii.String("Alarms"), Alarms: &alarmRefs, Width: jsii.Number(24),
			})},
			{
				graph("Launch calls and throttles", p.metric(handler.MetricCalls), p.metric(handler.MetricThrottledSync), p.metric(handler.MetricThrottledAsync)),
				graph("Throttled launch calls (%)", throttleRate),
			},
			{
				graph("Outcomes", p.metric(handler.MetricLaunched), p.metric(handler.MetricFailed), p.metric(handler.MetricDeadLettered), p.metric(handler.MetricRelaunched)),
				graph("Retries, deferrals, limiter busy", p.metric(handler.MetricRetries), p.metric(handler.MetricDeferrals), p.metric(handler.MetricLimiterBusy)),
			},
			{
				graph("Launch executions",
					machine.MetricStarted(&awscloudwatch.MetricOptions{Period: period()}),
					machine.MetricSucceeded(&awscloudwatch.MetricOptions{Period: period()}),
					machine.MetricFailed(&awscloudwatch.MetricOptions{Period: period()}),
					machine.MetricTimedOut(&awscloudwatch.MetricOptions{Period: period()})),
				graph("Dead-letter queues",
					p.dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Label: jsii.String("product DLQ"), Statistic: jsii.String("Maximum")}),
					p.targetDLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Label: jsii.String("event DLQ"), Statistic: jsii.String("Maximum")}),
					p.relaunchDLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Label: jsii.String("relaunch DLQ"), Statistic: jsii.String("Maximum")})),
			},
			{graph("Function errors", fnErrors...), graph("Function throttles", fnThrottles...)},
		},
	})
}
