package services

import (
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// TestConfigNamesResultsBucket: the handlers' configuration names the
// bucket the stack creates (summary writes results there), and none when
// the stack serves no S3.
func TestConfigNamesResultsBucket(t *testing.T) {
	t.Parallel()
	for bucket, want := range map[string]string{"": DefaultResultsBucket, "mine": "mine", "-": ""} {
		c, err := Options{Endpoint: "http://127.0.0.1:4566", Clock: clock.NewScaled(time.Now(), 1), ResultsBucket: bucket}.Config()
		if err != nil {
			t.Fatal(err)
		}
		if c.ResultsBucket != want {
			t.Errorf("ResultsBucket %q: config names %q, want %q", bucket, c.ResultsBucket, want)
		}
	}
}
