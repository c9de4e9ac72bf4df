package lambda

import (
	"sync"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
)

// concurrency is the account's concurrent executions: the functions'
// reservations and what runs in flight against them and against the
// unreserved rest.
type concurrency struct {
	mu         sync.Mutex
	limit      int            // the account's concurrent executions
	floor      int            // unreserved executions a reservation must leave
	reserved   map[string]int // function → reserved concurrency
	running    map[string]int // in flight per reserved function
	unreserved int            // in flight of functions without a reservation
}

func newConcurrency(limit, floor int) *concurrency {
	return &concurrency{limit: limit, floor: floor, reserved: map[string]int{}, running: map[string]int{}}
}

// put reserves n executions for name (0 throttles every invocation of it,
// as on Lambda), refusing a reservation that would leave the functions
// without one fewer than floor executions.
func (c *concurrency) put(name string, n int) error {
	if n < 0 {
		return awsjson.Errorf(400, "InvalidParameterValueException", "ReservedConcurrentExecutions must be at least 0, got %d", n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	total := n
	for fn, r := range c.reserved {
		if fn != name {
			total += r
		}
	}
	if c.limit-total < c.floor {
		return awsjson.Errorf(400, "InvalidParameterValueException",
			"Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d].", c.floor)
	}
	c.reserved[name] = n
	return nil
}

// pool is what the functions without a reservation share (at least 1).
func (c *concurrency) pool() int {
	p := c.limit
	for _, r := range c.reserved {
		p -= r
	}
	return max(p, 1)
}

// admit counts an invocation of name in flight against its reservation, or
// against the unreserved pool, and answers 429 when that is exhausted.
// Undo with done.
func (c *concurrency) admit(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.reserved[name]; ok {
		if c.running[name] >= r {
			e := tooMany()
			e.Fields["Reason"] = "ReservedFunctionConcurrentInvocationLimitExceeded"
			return e
		}
		c.running[name]++
		return nil
	}
	if c.unreserved >= c.pool() {
		return tooMany()
	}
	c.unreserved++
	return nil
}

func (c *concurrency) done(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.reserved[name]; ok && c.running[name] > 0 {
		c.running[name]--
		return
	}
	c.unreserved--
}

func tooMany() *awsjson.Error {
	e := awsjson.Errorf(429, "TooManyRequestsException", "Rate Exceeded.")
	e.Fields = map[string]any{"Reason": "ConcurrentInvocationLimitExceeded", "Type": "User"}
	return e
}

// PutFunctionConcurrency sets function's reserved concurrency, as Lambda's
// PutFunctionConcurrency: 0 stops every invocation, and a reservation that
// leaves the account fewer than UnreservedMin unreserved executions is
// refused with InvalidParameterValueException. Invocations already running
// keep running.
func (s *Service) PutFunctionConcurrency(function string, n int) error {
	name := FunctionName(function)
	if !s.exists(name) {
		return awsjson.Errorf(404, "ResourceNotFoundException", "Function not found: %s", s.ARN(name))
	}
	return s.conc.put(name, n)
}
