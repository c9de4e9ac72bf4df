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
//	// slot.At (or carry the slot through a Step Functions Wait).
//	slot, err = d.Recheck(ctx, "ecs", slot)   // after a wait: one read; a decrease may have moved it
//	err = d.Release(ctx, "ecs", slot)          // the call will not be made: exact give-back
//	p, _ := slot.Position(slot.Binding)
//	err = d.Signal(ctx, "ecs", slot.Binding, limiter.Signal{Reason: "ThrottlingException", Position: p})
//	wait, err := d.Peek(ctx, "ecs", takes)     // next slot, nothing reserved
//
// Build one Distributed (and one DynamoStore) per process, outside the
// Lambda handler: both keep what they learned of the item between calls.
// Make the call at Slot.At. A caller that calls ahead of its slot says how
// far with Options.EarlyCalls (default 0): every bucket's tolerance is
// shortened by it. Reserve returns a *BacklogFullError (nothing held, retry
// after its Wait; pkg/failure: throttled, code LimiterBacklogFull) when a
// slot would lie more than Options.MaxAhead away, and errors naming the
// field for bad takes (unknown bucket, bucket of another service, n outside
// (0, burst]).
//
// # Positions and epochs
//
// A slot books a position in each bucket it draws on, counted in that
// bucket's tokens (1 call, 10 tasks, …): Position{Bucket, End, N, Epoch,
// At}, where End is the bucket's frontier right after the take. The bucket
// keeps, besides its GCRA frontier (TAT, Pos), an epoch that counts
// decreases and the anchor of the last one: position AnchorPos was due at
// AnchorAt and later positions follow at AnchorRate. A decrease re-anchors
// in one conditional write: positions due before the in-flight horizon
// (Options.InFlight, 2 s: calls asleep in a Lambda cannot move; the
// product's runtask re-checks a slot it slept for just before calling, so
// it runs with 0.5 s, wire.CallHorizon) plus one
// call's refill keep their time, the position due then becomes the anchor,
// every later one moves to the new rate at once (no per-slot writes), and
// the frontier grants no burst (the real bucket is empty after a throttle;
// the allowance grows back with idle time, as GCRA has it). Recheck (one
// read) re-times a slot of an older epoch whose position lies beyond the
// anchor, never earlier than it was, and gives it the current epoch;
// positions up to the anchor keep their time and epoch. An increase (the
// learned rate growing back) applies only to takes made after it, beyond
// the frontier: chunks asleep in Wait states cannot wake early, so moving
// booked positions earlier would run two schedules at once. A take
// computed in an older epoch is refused by the store (*EpochError) and made
// again at the new rate.
//
// # The burst in halves
//
// An idle take (the start, or a bucket that refilled: its TAT lay in the
// past) marks the bucket in the same write: BurstAt, the take's time, and
// BurstPos, the frontier before it. Positions within the first half of
// the allowance (Tolerance/2 tokens from BurstPos) are due as GCRA has
// them, at once; later ones no earlier than Options.BurstFeedback after
// BurstAt (default the in-flight horizon + 1.5 s = 3.5 s: long enough for
// a throttle of the first half to come back and re-anchor what is not yet
// asleep in process), the second half spread over the next 250 ms
// (halfSpread: callers woken at one instant would all write at once and
// conflict on the item), and every later position of the run lies
// max(0, BurstFeedback − half/rate) later: the refill the real bucket
// loses while it sits full waiting for the second half (1.25 s for the
// Fargate task bucket, 100 / 20 per s). A decrease whose re-anchor comes
// before the second half is due anchors at the first half's end, so the
// second half moves to the new rate: a co-tenant that drained the real
// bucket costs the first half's calls (4 Fargate calls of 10 tasks), not
// the whole burst (9) and the calls that followed it within the in-flight
// horizon. After a decrease no halves apply until the next idle take (the
// re-anchor grants no burst at all). Peek ignores the halves (its wait is
// a lower bound).
//
// A decrease compares the bucket's frontier, which takes move; at a
// fleet's start hundreds of takes can starve it, so after four tries it is
// written on the epoch alone, and the few tokens taken during its round
// trip are re-timed onto the first increments of the new timing.
//
// Release gives a slot's tokens back at the frontier: for each position
// not yet due (as Recheck times it), N tokens at the bucket's current rate
// and epoch, one read and one write. Positions are counts, so this is
// exact whatever happened to the rate; a slot whose time has come counts
// as used.
//
// # Store failures: fail closed
//
// Every store error answers *StoreBusyError (nothing held, retry after
// Options.BusyRetry, 5 s; counted as LimiterStoreBusy, logged once per run
// of failures): a process that cannot read the fleet's state cannot know
// what the others admit, and any local allowance multiplied by the
// sandboxes that fall back together (100 runtask + 20 retry) goes over the
// bucket. pkg/failure classifies it transient, code LimiterStoreBusy, with
// Wait as the least delay: the chunk waits, spending no attempt, until its
// deadline. A configuration error (access denied, no such table) is the
// same answer with Config set, logged as an error and counted as
// LimiterStoreConfigErrors, which the stack alarms on. Recheck with the
// store down keeps the slot as it was (its place is still booked).
//
// A Slot survives JSON (what a Step Functions Wait carries):
// {"at":"…","waitSeconds":1.5,"binding":"ecs:FargateTasks","positions":[{"bucket":"ecs:FargateTasks","end":130,"n":10,"epoch":2,"at":"…"}]},
// with "lane" for a high or low slot (omitted for normal, so slots of
// older releases decode) and "base" and "shift" on a position a higher
// lane may still push back (see Lanes).
//
// # Storage: one item, one conditional write
//
// All buckets of one service and account scope live in one item, pk
// limiter#<service>#<accountScope>, sk bucket (docs/contracts.md; the key
// and TTL attribute names are DynamoOptions), with per bucket attributes
// tat_<bucket> (theoretical arrival time, µs since the epoch), pos_ (the
// frontier position), ep_ (epoch), rate_ and rateAt_ (the learned rate),
// aAt_, aPos_, aRate_, aPrev_ (the anchor), thr_, mAt_, mPos_, mThr_ (throttle
// count and mark), why_ (last decrease's reason), bAt_ and bPos_ (the last
// idle take, for the halves), and expiresAt. By DynamoDB's item-size rules
// a fully written item for the three ECS launch buckets is about 1,330
// bytes: two write units per write. An acquisition is one UpdateItem that pushes every bucket's TAT
// and position forward, conditioned on each bucket's epoch,
// with ReturnValues ALL_NEW telling the caller its slot: the latest over
// the buckets of new TAT − tolerance (inc is n / the current, possibly
// lowered, rate; the tolerance is burst × burstFraction / configured rate,
// so a lower rate also means a proportionally smaller burst, and 10 % of
// the burst is kept back by default, see Learning the rate). DynamoDB expressions cannot
// compute max(TAT, now), so each bucket is written on one of two branches,
// guarded by its condition: backlog (TAT ≥ now: TAT += inc, and TAT within
// the look-ahead bound) or idle (TAT < now or absent: TAT = now + inc, and
// the burst mark).
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
// # Lanes
//
// An acquisition names its lane (Take.Lane, the request's priority):
// LaneHigh, LaneNormal ("", the default) or LaneLow, served in that order.
// A bucket stays one GCRA timeline (TAT, Pos): lanes change where a take
// lands on it, never how much it admits. A take in lane l preempts: it is
// inserted at P, the latest of now + the in-flight horizon (in TAT terms,
// + the tolerance), the fronts (last booked TAT) of lane l and every
// higher lane, the lane state's floor and, for each lower lane it pushes
// back, that lane's last run end (below); every lower lane with positions
// beyond P has them all moved back by the take's increment n/rate, and
// the frontier advances by the same increment — in the one conditional
// write of the acquisition (no extra round trip; a preemption compares
// the lane state it was planned on, and a conflict returns the item to
// plan again from). The union of the schedules is then the old one with a
// gap of exactly the increment opened at P and filled by the take, so the
// fleet-wide bound (tolerance + rate × window, in any window) holds as it
// did; no lane runs at a fraction of the rate, which would overlap two
// schedules. Positions due before the horizon (asleep in a Lambda, or in
// flight) never move: that is the cost of a preemption, a high take waits
// the horizon (Options.InFlight: 2 s by default, 0.5 s in the product's
// functions, whose runtask re-checks a slot just before its call) plus its
// own increment (10 tasks at 20/s: 0.5 s) plus the increments of high
// takes ahead of it, and a lower lane's calls already in the horizon keep
// their time.
//
// Lower-lane holders learn of the move at their wake-time Recheck (one
// read): a lower-lane position carries its base (its TAT less its lane's
// push back when booked) and the push back it has seen; the lane keeps
// the push back as a step function of the base (LaneShift: a Base value
// and up to four runs, each a threshold and the push back beyond it), so
// Recheck moves the slot by the push back it gained (later, never
// earlier). A preemption whose P lies at a lane's last run end extends that
// run (a high request's chunks arriving faster than they are served chain
// into one run); otherwise it starts one. The oldest run folds into Base
// once every position at or below it was due a second ago (a holder woken
// from a Wait at its slot's time rechecks within it). A lane whose four
// runs are all live, or whose budget is spent, is not pushed back: the
// take goes behind it (first come, first served).
//
// Shares: each lower lane keeps a share of the bucket while a higher lane
// has queued work (BucketLimit.Shares; "laneShares" at any level of the
// limit document; defaults normal 0.3, low 0.1), enforced as a preemption
// budget, a small GCRA per lane: a push back of i costs i / (1 − share)
// of budget time, which refills at one second per second with at most
// laneWindow (60 s) banked, so a lane is pushed back by at most
// (1 − share) × 60 s at once and (1 − share) s per second after. A batch
// alone uses the whole bucket (shares cap nothing without higher work).
// Ageing: a lower-lane position first due D0 away is pushed back by at
// most (1 − share)(60 s + D), D being the time it ends up waiting, so
// D ≤ (D0 + (1 − share) × 60 s) / share: a low chunk booked 300 s ahead
// is called within 3,540 s however much high work arrives (540 s for
// one due now), a normal one within 1,140 s; TestLaneStarvationBound
// checks it. The defaults keep 30 % for normal work under an urgent storm
// and 10 % for a batch under both.
//
// Decreases: a decrease re-anchors every lane at once, since the
// re-anchor counts positions of the one timeline (booking order); the
// lane state belongs to the epoch it was started in (Gen), and the first
// high or normal take of a new epoch starts it again with its floor at the
// frontier: positions booked before the decrease are not preempted
// afterwards (they drain first come, first served, behind the re-timed
// positions). A position re-timed by a decrease loses its base. The
// re-anchor re-times positions in booking order, not in the order
// preemption had put them, so a preemption shortly before a decrease is
// undone for the positions the decrease moves (a preempted high chunk may
// go back to its booking-order place); the randomized test
// (TestLanesFleetBound, with decreases) finds no window over the bound.
// A throttle's measurement counts the positions between two marks in
// booking order, which a preemption between them reorders: the measured
// step stays clamped between the blind step and ×0.95, as for any
// window. Release gives a lane position's tokens back at the frontier as before
// (positions are counts); Peek answers a high or normal take's wait at its
// insertion point; Status lists each lane's queue (BucketStatus.Lanes).
//
// Storage: per bucket, fH_, fN_, fL_ (lane fronts, written by every take
// of that lane), lg_ and lfl_ (lane state epoch and floor), and per lower
// lane (N, L) sb, st0…st3, sc0…sc3, su (LaneShift); all numbers. A
// preemption conditions each lane it pushes back on su alone (every push
// back raises the budget, so it versions the lane's state), and its
// expressions stay well within DynamoDB's 4 KB (TestLanePreemptExpressionSize). By
// DynamoDB's item-size rules (TestLaneItemSize) the three ECS launch
// buckets' item is 1,285 bytes without lanes (2 write units per write),
// 1,528 with the lane fronts (2 units: a product that never uses lanes
// pays nothing more), and 3,280 with every lane attribute written (4
// units per write: an item that preemptions touched, until its TTL).
// One item tops out near 1,000 write units per second: about 500
// acquisitions/s at 2 units, 250 at 4 (the Fargate task bucket admits 2
// calls of 10 tasks per second). A high take reads the item before its
// write (one read unit, strongly consistent): its process's view may not
// show what the fleet booked.
//
// # Learning the rate
//
// Signal reports a throttle on a bucket; callers attribute an ambiguous
// one (ECS's "Rate exceeded" does not say which bucket refused) to the
// slot's Binding bucket, the one that set its time; a RunTask answer whose
// failures[] entries say throttled was admitted by the request buckets,
// so pkg/handler sends it to the per-task one (Fargate tasks), with N the
// throttled tasks. A signal that carries
// its slot's position counts the throttled tokens on the bucket and, if
// the call was timed in the current epoch, decreases the rate — once per
// epoch however many processes report the storm, since the decrease ends
// the epoch (the recovery point of TCP NewReno). A signal without a
// position (an asynchronous ECS event minutes later) counts for the
// current epoch when its call was made SignalWindow (5 s) or more after
// the last decrease: by then every slot the decrease re-timed has been
// re-checked (runtask sleeps at most its 2-s defer threshold in process).
//
// The new rate is measured, not guessed: a token bucket driven past its
// limit admits exactly its refill, and two throttles bracket two instants
// the real bucket was empty. The bucket keeps a mark (time, position, and
// the throttled count) at the throttle that made the last decrease; at the
// next, what it admitted of ours in between — the positions between the
// two throttled calls less those reported throttled — over the time
// between is the rate left to us, and the rate goes to it less 5 %
// (measureMargin: a bucket run at its exact rate holds under one call's
// tokens, and any jitter is then a throttle), at least ×0.95 and at most
// one blind step (× Decrease, 0.85): a window can catch a co-tenant
// catching up on its own backlog, and a rate still too high is throttled
// and measured again. Marks between 1 s and 60 s apart are used;
// otherwise (the first throttle, or an old mark) the decrease is blind.
// Counts ride on the signal's own write (Swap); a count alone is an
// increment, so signals conflict neither with takes nor with each other;
// nothing is written per success. After a decrease the rate holds for
// 10 s, then grows ×(1 + Recovery) per second up to the configured rate,
// probing gently — for takes made from then on.
//
// Defaults (limits.go, README "Tuning"): blind decrease ×0.85, signal window 5 s,
// recovery ×1.005 per second, floor 5 % of the rate, and a burst fraction
// of 0.9: the limiter hands out 90 % of a bucket's burst at once, the rest
// being headroom for the refill the real bucket loses while full between
// the limiter's reading and the call.
//
// # Limits
//
// ParseLimits reads an override document (the product's TH_LIMITS_JSON;
// see Limits for its shape) over the built-in published AWS defaults, one
// bucket per AWS throttling category: ecs:RunTask ("cluster resource
// modify": RunTask, StartTask, StopTask) 100 burst / 40 per s;
// ecs:DescribeTasks ("cluster resource read": DescribeTasks, ListTasks)
// 100 / 20; ecs:FargateRunTask 20 / 20 (the Fargate cap of 20 RunTask calls
// per s); ecs:FargateTasks 100 / 20; ec2:RunInstances 5 / 2; ec2:Instances
// 1000 / 2; ec2:TerminateInstances 100 / 5; ec2:TerminatedInstances
// 1000 / 20; ec2:Mutating 50 / 5; ec2:NonMutating 100 / 20. BucketOf maps
// an action to its bucket.
// Inheritance: defaults → service → account/region → API action.
//
// # Live limits
//
// The override document can also live in the table, so a change needs no
// deploy. SetLimits validates it exactly as ParseLimits does (the same
// error, naming the key; nothing written) and writes it, compact, into
// every service's bucket item as item-level attributes: lim (the
// document), limV (a version counting sets and resets), limBy (who) and
// limAt (when, µs). Each write is conditioned on the version read: a
// concurrent set fails with a *LimitsConflictError and writes nothing;
// when a later service's write fails, those already written are put back
// (as a newer version holding the document before). Every answer of the
// store carries the whole item (the acquisition's ALL_NEW, the reads of
// Recheck, Peek, Status and Signal); a Store implementing LiveStore
// (MemoryStore, DynamoStore) keeps the newest document it has seen per
// key, and after each call the Distributed applies it when its limV is
// newer than the one it applied: no read to learn of it. The acquisition
// whose answer brings a change was timed under the old limits, so it gives
// its tokens back (Give: one read, one write) and takes again under the
// new ones, once per process and change: otherwise every warm process of a
// fleet would take once more at the old rate. Versions only move forward (answers to concurrent calls arrive
// in any order); a stored document that does not parse (a newer
// release's) is logged and the limits in force kept. The limits the
// Distributed was built with (TH_LIMITS_JSON, the stack's limitsJson) are
// the initial value, in force while the item carries no document;
// ResetLimits removes it (limV still counts, so every process goes back).
//
// The bucket item expires a day after its last slot (TTL), so the write
// also goes to a durable copy beside it (same partition key, sort key
// limits, no TTL) that only moves forward; a process's first acquisition
// reads it when the bucket item's answers carried no document: one GetItem
// per process and key, at its cold start.
//
// A raise probes rather than jumps: for every bucket whose configured rate
// the new document raises, the same write stores the rate in force now
// (the learned rate, else the old configured one) as the learned rate
// (rate_, rateAt_ = now), conditioned on the bucket's epoch and without
// changing it. The rate then holds for 10 s and grows ×(1 + Recovery) per
// second to the new ceiling: from 20 to 40 per s in 10 s + ln 2 / ln 1.005
// ≈ 150 s. A lowered limit applies at the next take (its increment and burst
// allowance at the new rate); positions already booked keep their time:
// they drain at the old pace for at most the look-ahead they were booked
// over, and a throttle they cause re-anchors them as any decrease does.
//
// The document adds its compact length, who, and about 40 bytes to the
// item every acquisition writes; DynamoDB bills a write per 1 KB of the
// item, so a document up to about 650 bytes keeps the ECS launch buckets'
// item (about 1,330 bytes) at two write units. SetLimits refuses more than
// 2,048 bytes (limitsJson's bound).
//
// # Metrics
//
// Counters go to a Recorder (metrics.go): LimiterAcquisitions,
// LimiterDeferrals, LimiterDelaySeconds, LimiterBacklogFull,
// LimiterReleases, LimiterThrottleSignals, LimiterRateDecreases,
// LimiterStoreBusy, LimiterStoreConfigErrors, LimiterRetimedSlots, and
// the gauge LimiterRateRatio (learned / configured rate of the binding
// bucket, per acquisition).
// Counters.EMF renders them as CloudWatch Embedded Metric Format lines.
// Status returns, per bucket, the learned rate, epoch, queue and last
// decrease from one read (throttlectl status shows it).
//
// Stores pass the conformance suite limitertest.TestStore: MemoryStore here,
// DynamoStore against dynalite.
package limiter
