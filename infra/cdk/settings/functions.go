package settings

import "time"

// Function sizes one of the stack's Lambda functions. The CDK stack deploys
// these values and the local Lambda (integration/services) runs with them,
// so a timeout the product must live within is the same in both.
type Function struct {
	// Name is the function's short name (pkg/lambdafn's registry key).
	Name string
	// ID is the CDK construct ID stem, as in the ASL placeholder.
	ID string
	// MemoryMB buys memory and, with it, CPU.
	MemoryMB int
	// Timeout is the function's timeout.
	Timeout time.Duration
	// NeedsMachine: the function starts executions of the launch machine
	// (TH_STATE_MACHINE_ARN).
	NeedsMachine bool
	// EventTarget: invoked asynchronously by an EventBridge rule, with the
	// asynchronous invocation configuration AsyncRetries and MaxEventAge.
	EventTarget bool
}

// Asynchronous invocation configuration of the event targets: Lambda's
// defaults, stated so that the stack and the local Lambda agree.
const (
	AsyncRetries = 2
	MaxEventAge  = 6 * time.Hour
)

// Functions are the stack's functions. Go on arm64 needs little memory;
// memory also buys CPU, which matters only where a function does many
// writes.
var Functions = []Function{
	// classify is pure: a small function with nothing to reach.
	{Name: "classify", ID: "Classify", MemoryMB: 128, Timeout: 10 * time.Second},
	// plan writes one item per chunk (10,000 chunks for 100,000 tasks).
	{Name: "plan", ID: "Plan", MemoryMB: 512, Timeout: 120 * time.Second},
	// runtask waits at most the defer threshold in Lambda, then one call.
	{Name: "runtask", ID: "RunTask", MemoryMB: 256, Timeout: 30 * time.Second},
	// retry also relaunches tasks that failed to start (event mode).
	{Name: "retry", ID: "Retry", MemoryMB: 256, Timeout: 30 * time.Second, EventTarget: true},
	// summary counts a request's chunk items.
	{Name: "summary", ID: "Summary", MemoryMB: 512, Timeout: 120 * time.Second},
	{Name: "submit", ID: "Submit", MemoryMB: 128, Timeout: 30 * time.Second, NeedsMachine: true, EventTarget: true},
}

// FunctionByName returns the function named name.
func FunctionByName(name string) (Function, bool) {
	for _, f := range Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// ReservedConcurrency returns the reserved concurrency of each function
// that has one (runtask's and retry's, defaults applied; 0 is unreserved
// and left out).
func (s Settings) ReservedConcurrency() map[string]int {
	s = s.WithDefaults()
	out := map[string]int{}
	for name, n := range map[string]int{"runtask": *s.RunTaskConcurrency, "retry": *s.RetryConcurrency} {
		if n > 0 {
			out[name] = n
		}
	}
	return out
}
