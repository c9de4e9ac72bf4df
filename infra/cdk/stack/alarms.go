package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"
)

// MetricsNamespace is the CloudWatch namespace of the functions' Embedded
// Metric Format lines. The alarms read the dimensionless aggregate of each
// metric, so every EMF line must include the empty dimension set ([]).
const MetricsNamespace = "ThrottleHandler"

// EMF metric names the functions emit and the alarms and dashboard read.
const (
	MetricCalls           = "Calls"           // RunTask + RunInstances calls
	MetricThrottles       = "Throttles"       // synchronous and asynchronous throttles
	MetricLaunched        = "Launched"        // tasks/instances launched
	MetricFailed          = "Failed"          // tasks/instances failed with a reason
	MetricDeadLettered    = "DeadLettered"    // chunks sent to the product DLQ
	MetricDeferrals       = "Deferrals"       // runtask answers "deferred"
	MetricRetries         = "Retries"         // retry decisions "retry"/"failover"
	MetricLimiterFallback = "LimiterFallback" // acquisitions served by the local fallback limit
)

// period is the alarms' and dashboard's period. A function, not a package
// variable: a CDK call at package init would start the jsii runtime in every
// binary that imports this package.
func period() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(5)) }

func (p *parts) metric(name string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(MetricsNamespace), MetricName: jsii.String(name),
		Statistic: jsii.String("Sum"), Period: period(),
	})
}

// addAlarms makes the alarms of the issue and a dashboard of the product's
// metrics. Alarms treat missing data as not breaching: no launches, no
// signal.
func (p *parts) addAlarms() {
	a := p.settings.Alarms
	launch := p.machines[EntryMachine]
	var alarms []awscloudwatch.IAlarm
	alarm := func(id, desc string, m awscloudwatch.IMetric, threshold, periods float64) {
		al := awscloudwatch.NewAlarm(p.stack, jsii.String(id), &awscloudwatch.AlarmProps{
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
			"calls": p.metric(MetricCalls), "throttles": p.metric(MetricThrottles),
		},
	})
	alarm("ThrottleRateAlarm", "Launch calls are being throttled: the limits in TH_LIMITS_JSON are above what the account allows, or another tenant shares the buckets.",
		throttleRate, a.ThrottleRatePercent, 3)
	visible := func(q interface {
		MetricApproximateNumberOfMessagesVisible(*awscloudwatch.MetricOptions) awscloudwatch.Metric
	}) awscloudwatch.Metric {
		return q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(1))})
	}
	alarm("DeadLetterQueueAlarm", "Chunks were given up on and dead-lettered: read the messages for the reason and redrive.",
		visible(p.dlq), a.DLQDepth, 1)
	alarm("EventDeadLetterQueueAlarm", "EventBridge or Lambda could not deliver an event to submit/retry: requests or relaunches are waiting in the queue.",
		visible(p.targetDLQ), a.DLQDepth, 1)
	failed := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("failed + timedOut + aborted"),
		Label:      jsii.String("Launch executions failed, timed out or aborted"),
		Period:     period(),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"failed":   launch.MetricFailed(&awscloudwatch.MetricOptions{Period: period()}),
			"timedOut": launch.MetricTimedOut(&awscloudwatch.MetricOptions{Period: period()}),
			"aborted":  launch.MetricAborted(&awscloudwatch.MetricOptions{Period: period()}),
		},
	})
	alarm("FailedExecutionsAlarm", "Launch executions ended without a summary: see the state machine's log group.", failed, a.FailedExecutions, 1)
	alarm("LimiterFallbackAlarm", "The limiter could not reach DynamoDB and fell back to the conservative local limit: launches are slowed.",
		p.metric(MetricLimiterFallback), a.LimiterFallback, 1)

	if p.settings.AlarmTopicArn != "" {
		topic := awssns.Topic_FromTopicArn(p.stack, jsii.String("AlarmTopic"), jsii.String(p.settings.AlarmTopicArn))
		for _, al := range alarms {
			al.(awscloudwatch.Alarm).AddAlarmAction(awscloudwatchactions.NewSnsAction(topic))
		}
	}
	p.addDashboard(alarms, throttleRate)
}

func (p *parts) addDashboard(alarms []awscloudwatch.IAlarm, throttleRate awscloudwatch.IMetric) {
	graph := func(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &metrics, Width: jsii.Number(12), Height: jsii.Number(6),
		})
	}
	launch := p.machines[EntryMachine]
	alarmRefs := make([]interfacesawscloudwatch.IAlarmRef, len(alarms))
	for i, a := range alarms {
		alarmRefs[i] = a
	}
	var fnErrors, fnThrottles []awscloudwatch.IMetric
	for _, spec := range functionSpecs {
		fn := p.functions[spec.name]
		fnErrors = append(fnErrors, fn.MetricErrors(&awscloudwatch.MetricOptions{Label: jsii.String(spec.name), Period: period()}))
		fnThrottles = append(fnThrottles, fn.MetricThrottles(&awscloudwatch.MetricOptions{Label: jsii.String(spec.name), Period: period()}))
	}
	awscloudwatch.NewDashboard(p.stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		Widgets: &[]*[]awscloudwatch.IWidget{
			{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
				Title: jsii.String("Alarms"), Alarms: &alarmRefs, Width: jsii.Number(24),
			})},
			{
				graph("Launch calls", p.metric(MetricCalls), p.metric(MetricThrottles)),
				graph("Throttled launch calls (%)", throttleRate),
			},
			{
				graph("Outcomes", p.metric(MetricLaunched), p.metric(MetricFailed), p.metric(MetricDeadLettered)),
				graph("Retries, deferrals, limiter fallback", p.metric(MetricRetries), p.metric(MetricDeferrals), p.metric(MetricLimiterFallback)),
			},
			{
				graph("Launch executions",
					launch.MetricStarted(&awscloudwatch.MetricOptions{Period: period()}),
					launch.MetricSucceeded(&awscloudwatch.MetricOptions{Period: period()}),
					launch.MetricFailed(&awscloudwatch.MetricOptions{Period: period()}),
					launch.MetricTimedOut(&awscloudwatch.MetricOptions{Period: period()})),
				graph("Dead-letter queues",
					p.dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Label: jsii.String("product DLQ"), Statistic: jsii.String("Maximum")}),
					p.targetDLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Label: jsii.String("event DLQ"), Statistic: jsii.String("Maximum")})),
			},
			{graph("Function errors", fnErrors...), graph("Function throttles", fnThrottles...)},
		},
	})
}
