// Package limiter owns the token buckets: a local limiter, a fleet-wide
// distributed limiter on DynamoDB, its adaptive rate control and the
// hierarchical limit configuration. It knows nothing of launching, nor of
// the product's environment: pkg/handler/wire.NewLimiter turns the TH_*
// variables (pkg/config) into Options and Limits.
//
// # Local
//
// Local is an in-process GCRA bucket (Allow, AllowN(t, n), ReserveN with a
// cancellable Reservation, Wait(ctx, n)) on an injectable clock. It reads the
// clock under its lock and never lets time run backwards, so concurrent
// callers with stale timestamps cannot over-admit as they can with
// golang.org/x/time/rate. Allow does not allocate.
//
// # Distributed (what pkg/handler uses)
//
//	lims, err := limiter.ParseLimits(overrides) // "" = the built-in AWS defaults
//	d := limiter.NewDistributed(limiter.NewDynamoStore(ddb, table), lims,
//		func(o *limiter.Options) { o.AccountScope = "eu-west-1"; o.Clock = clk; o.Logger = log })
//	slot, err := d.Reserve(ctx, "ecs", []limiter.Take{
//		{Bucket: limiter.ECSRunTask, N: 1},
//		{Bucket: limiter.ECSFargateRunTask, N: 1},
//		{Bucket: limiter.ECSFargateTasks, N: 10},
//	})
//	// slot.Wait == 0: call now. slot.Wait > 0: the slot is held; call at
//	// slot.At (return "deferred" with slot.Wait and let Step Functions wait).
//	err = d.Release(ctx, "ecs", takes, slot)            // the call will not be made
//	err = d.Signal(ctx, "ecs", limiter.ECSRunTask, limiter.Signal{Reason: "ThrottlingException"})
//	wait, err := d.Peek(ctx, "ecs", takes)               // next slot, nothing reserved
//
// Build one Distributed (and one DynamoStore) per process, outside the
// Lambda handler: both keep what they learned of the item between calls.
// Make the call at Slot.At: pkg/handler sleeps until a slot within its
// defer threshold. A caller that calls ahead of its slot says how far with
// Options.EarlyCalls (default 0): every bucket's tolerance is shortened by
// it, so such a call still conforms. Reserve returns a *BacklogFullError
// (nothing held, retry after its Wait; pkg/failure: throttled, code
// LimiterBacklogFull) when a slot would lie more than Options.MaxAhead
// away, and errors naming the field for bad takes (unknown bucket, bucket
// of another service, n outside (0, burst]). A DynamoDB failure or timeout
// never fails open; see Store failures.
//
// # Store failures
//
// A store error (AccessDenied, ResourceNotFound, connection refused) falls
// back at once: the slot comes from a local limit at
// Options.FallbackFraction (0.1) of the bucket
// (Slot.Fallback), logged with slog and counted; the store is tried again
// after Options.FallbackRetry (5 s). A signal the store cannot take lowers
// that fallback limit instead (once per storm). The fallback bucket starts
// empty: its first slot is one increment away (10 Fargate tasks at 10 % of
// 20/s: 5 s), never a burst, since a fleet of sandboxes tends to fall back
// together and one burst each adds up past the real bucket.
//
// A store timeout is most often a store the fleet itself loads (a cold
// Map of a few hundred runtask sandboxes queues ~4 calls each), and then
// every process would fall back at once: N processes × fraction is over
// the bucket once N > 1/fraction. So a timeout answers *StoreBusyError
// (nothing held, Wait FallbackRetry, counted as LimiterStoreBusy, logged
// once per run of timeouts); pkg/failure classifies it transient (code
// LimiterStoreBusy, its Wait the least delay) and the state machine
// retries later, which drops nothing. Only when the
// timeouts have lasted Options.BusyGrace (2 × FallbackRetry) of clock time
// and more than Options.BusyTimeouts (3) calls in a row does the local
// fallback take over. A fallback fraction is safe only up to 1 / the
// number of processes that may fall back together (runtask's reserved
// concurrency, 100 by default): see README "Store failures".
//
// A Slot survives JSON (what a Step Functions Wait carries):
// {"at":"…","waitSeconds":1.5,"fallback":false,"debits":[{"bucket":"ecs:RunTask","incSeconds":0.025,"tauSeconds":2.5}]}.
// Release needs only At when the debits are lost (it recomputes them).
//
// # Storage: one item, one conditional write
//
// All buckets of one service and account scope live in one item, pk
// limiter#<service>#<accountScope>, sk bucket (docs/contracts.md; the key
// and TTL attribute names are DynamoOptions), with per bucket attributes
// tat_<bucket> (theoretical arrival time, µs since the epoch),
// rate_<bucket> and rateAt_<bucket> (adaptive state), and expiresAt.
// An acquisition is one UpdateItem that pushes every bucket's TAT forward,
// with ReturnValues ALL_NEW telling the caller its slot: the latest over
// the buckets of new TAT − tolerance (inc is n / the current, possibly
// lowered, rate; the tolerance is burst × burstFraction / configured rate,
// so a lower rate also means a proportionally smaller burst, and 10 % of
// the burst is kept back by default, see Adaptive rate). DynamoDB expressions cannot
// compute max(TAT, now), so each bucket is written on one of two branches,
// guarded by its condition: backlog (TAT ≥ now: TAT += inc, and TAT within
// the look-ahead bound) or idle (TAT < now or absent: TAT = now + inc).
// DynamoStore guesses the branch from the newest TAT this process has seen,
// pushed forward by its own writes still in flight (a TAT only grows, so a
// backlog guess stays right; without the in-flight term, guesses flip to
// idle too early under load and thrash). It serialises a process's first
// writes to an item so a cold start does not send 64 blind guesses, answers
// "backlog full" from a read rather than a failing write when its estimate
// says so, and on ConditionalCheckFailed reads the item (ALL_OLD where
// DynamoDB returns it; a consistent GetItem on dynalite, which does not) and
// retries with exact branches. No transactions, no read-modify-write loop.
// Peek computes the next slot from one read with the same arithmetic.
//
// Buckets drawn together are each exact GCRA on their own timeline; the
// slot is the latest of their conformance times. A bucket that does not bind
// is charged at its own conformance time, earlier than the call is made.
// When every call of a service draws on the same buckets this is exact (the
// slots follow the binding bucket). When calls of different kinds mix (EC2
// launch-type RunTask calls beside Fargate calls held far ahead), the
// charges in transit show as a small excess: 2.2 % of calls throttled by the
// RunTask bucket with 200 Fargate calls reserved at once
// (TestMixedCallsShareABucket), which the adaptive rate absorbs. Charging
// at the slot instead would be exact but, a TAT being a single frontier,
// would queue every other call behind the furthest slot (95 s there).
// One write per acquisition, no starvation: that is the trade.
//
// # Adaptive rate
//
// Signal lowers a bucket's rate for the whole fleet: rate × Decrease (not
// below Floor), stored in the same item with the time of the decrease, by a
// conditional write on that time so concurrent signals decrease once. A
// signal within SignalWindow after the last decrease (or from before it) is
// the same storm and only counted. The rate then recovers by the factor
// (1 + Recovery) per second up to the configured Rate; processes compute
// the current rate from the stored pair, so recovery costs no writes. A
// process learns another's decrease from its next take's answer (ALL_NEW)
// and then charges that take the difference with one more write, so the
// call is paced at the decreased rate even in a process that had not seen
// it (each Lambda sandbox is such a process).
//
// Defaults (limits.go, README "Tuning"): decrease ×0.7, signal window 5 s,
// recovery ×1.01 per second, floor 5 % of the rate, and a burst fraction
// of 0.9: the limiter hands out 90 % of a bucket's burst at once, the rest
// being headroom for the refill the real bucket loses while full between
// the limiter's reading and the call. A slot is held however far ahead it
// lies, so a decrease reaches only slots handed out after it: the decrease
// is strong enough for one to reach a co-tenant's 30 % share, and the
// window spans the throttles of slots handed out before it.
//
// # Limits
//
// ParseLimits reads an override document (the product's TH_LIMITS_JSON;
// see Limits for its shape) over the built-in published AWS defaults:
// ecs:RunTask, ecs:StartTask, ecs:StopTask 100 burst / 40 per s;
// ecs:DescribeTasks, ecs:ListTasks 100 / 20; ecs:FargateRunTask 20 / 20
// (the Fargate cap of 20 RunTask calls per s); ecs:FargateTasks 100 / 20;
// ec2:RunInstances 5 / 2; ec2:Instances 1000 / 2; ec2:Mutating 50 / 5;
// ec2:NonMutating 100 / 20.
// Inheritance: defaults → service → account/region → API action.
//
// # Metrics
//
// Counters go to a Recorder (metrics.go): LimiterAcquisitions,
// LimiterDeferrals, LimiterDelaySeconds, LimiterBacklogFull,
// LimiterReleases, LimiterThrottleSignals, LimiterRateDecreases,
// LimiterFallbackEpisodes, LimiterFallbackAcquisitions. Counters.EMF renders
// them as CloudWatch Embedded Metric Format lines.
//
// Stores pass the conformance suite limitertest.TestStore: MemoryStore here,
// DynamoStore against dynalite.
package limiter
