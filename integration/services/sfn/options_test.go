package sfn

import (
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// The AWS behaviours are on unless an option turns them off.
func TestRunnerOptionsDefaults(t *testing.T) {
	clk := clock.NewScaled(time.Now(), 1)
	tests := []struct {
		name          string
		o             Options
		limit         int
		late          time.Duration
		inlineDistMap bool
		noHeartbeat   bool
	}{
		{"defaults", Options{}, DefaultHistoryLimit, DefaultWaitLateness, false, false},
		{"set", Options{HistoryLimit: 100, WaitLateness: time.Second}, 100, time.Second, false, false},
		{"off", Options{NoHistoryLimit: true, NoWaitLateness: true, InlineDistributedMap: true, NoHeartbeatTimeout: true}, 0, 0, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Clock = clk
			r := tc.o.runnerOptions()
			if r.HistoryLimit != tc.limit || r.WaitLateness != tc.late || r.InlineDistributedMap != tc.inlineDistMap || r.IgnoreHeartbeat != tc.noHeartbeat {
				t.Errorf("got limit %d, lateness %v, inline %v, no heartbeat %v; want %d, %v, %v, %v", r.HistoryLimit, r.WaitLateness, r.InlineDistributedMap, r.IgnoreHeartbeat,
					tc.limit, tc.late, tc.inlineDistMap, tc.noHeartbeat)
			}
		})
	}
}
