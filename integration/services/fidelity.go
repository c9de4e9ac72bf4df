package services

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Fidelity turns off AWS behaviours the local services emulate. Each is on
// by default (the zero value is the harshest stack), so a product that
// passes locally has met them; focused tests turn one off by name.
type Fidelity struct {
	// Seed seeds the random choices below, so a run repeats (default 1).
	Seed uint64
	// NoSQSDuplicates: standard queues deliver each message once. By
	// default a received message stays behind as a second copy with
	// probability SQSDuplicateRate (at-least-once delivery).
	NoSQSDuplicates bool
	// NoSQSReorder: standard queues deliver oldest first. By default a
	// receive picks among the visible messages at random.
	NoSQSReorder bool
	// NoEventReorder: EventBridge delivers at once. By default each
	// delivery is held up to EventReorderWindow first, so events overtake
	// each other.
	NoEventReorder bool
	// NoConditionalItem: a DynamoDB write that asked
	// ReturnValuesOnConditionCheckFailure=ALL_OLD and failed its condition
	// gets no Item, as dynalite answers. By default the proxy adds it.
	NoConditionalItem bool
}

// The default rates of Fidelity's faults.
const (
	SQSDuplicateRate   = 0.05
	EventReorderWindow = 2 * time.Second // simulated
)

func (f Fidelity) seed() uint64 {
	if f.Seed == 0 {
		return 1
	}
	return f.Seed
}

func (f Fidelity) sqsDuplicates() float64 {
	if f.NoSQSDuplicates {
		return 0
	}
	return SQSDuplicateRate
}

func (f Fidelity) eventReorder() time.Duration {
	if f.NoEventReorder {
		return 0
	}
	return EventReorderWindow
}

// rand returns a seeded source of [0, 1) safe for concurrent use.
func (f Fidelity) rand(stream uint64) func() float64 {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(f.seed(), stream))
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Float64()
	}
}
