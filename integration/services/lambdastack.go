package services

import (
	"time"

	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
	"github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// stackLambda configures the local Lambda as the CDK stack deploys the
// functions (settings.Functions and the default settings): each function's
// timeout, runtask's and retry's reserved concurrency against the account's
// limit, and the event targets' asynchronous retries, maximum event age and
// on-failure destination: the product's dead-letter queue, the local
// stand-in for both of the stack's (retry's product DLQ, submit's event
// DLQ). Cold starts and the asynchronous queue's duplicates and disorder
// keep the service's defaults (on). Options.Lambda runs after it and may
// turn any of these off.
func stackLambda(cfg config.Config) func(*lambda.Options) {
	return func(lo *lambda.Options) {
		lo.Timeouts = map[string]time.Duration{}
		lo.MaxEventAges = map[string]time.Duration{}
		lo.OnFailure = map[string]string{}
		for _, f := range settings.Functions {
			lo.Timeouts[f.Name] = f.Timeout
			if f.EventTarget {
				lo.MaxEventAges[f.Name] = settings.MaxEventAge
				lo.OnFailure[f.Name] = cfg.DLQURL
			}
		}
		retries := settings.AsyncRetries
		lo.AsyncRetries = &retries
		// 429 beyond a reservation, which the state machine and the
		// asynchronous invoker retry.
		lo.Reserved = settings.Settings{}.ReservedConcurrency()
	}
}
