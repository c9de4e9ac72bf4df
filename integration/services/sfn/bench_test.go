package sfn_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// BenchmarkMap1000 runs a 1,000-item Map through the Lambda endpoint: INLINE
// (at most 40 iterations at once) and DISTRIBUTED (MaxConcurrency 400).
func BenchmarkMap1000(b *testing.B) {
	w := newWorker()
	st, arns := newStack(b, w)
	input := `{"items":[` + strings.TrimSuffix(strings.Repeat(`{"value":1},`, 1000), ",") + `]}`
	for _, machine := range []string{"wide", "distributed"} {
		b.Run(machine, func(b *testing.B) {
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				start, err := st.SFN.StartExecution(ctx, arns[machine], "", input)
				if err != nil {
					b.Fatal(err)
				}
				d, err := st.SFN.Wait(ctx, start.ExecutionARN)
				cancel()
				if err != nil || d.Status != "SUCCEEDED" {
					b.Fatalf("got %v %s %s", err, d.Status, d.Cause)
				}
			}
		})
	}
}
