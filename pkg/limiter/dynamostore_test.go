package limiter_test

import (
	"testing"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
	"github.com/throttle-handler/throttle-handler/pkg/limiter/limitertest"
)

// TestDynamoStore runs the conformance suite on dynalite through the real
// aws-sdk-go-v2 client.
func TestDynamoStore(t *testing.T) {
	t.Parallel()
	c := testenv.DynamoDBTable(t, "th-test")
	var s *limiter.DynamoStore
	limitertest.TestStore(t, func(*testing.T) limiter.Store {
		s = limiter.NewDynamoStore(c, "th-test")
		return s
	})
	t.Cleanup(func() { t.Logf("DynamoDB calls: %+v", s.Stats()) })
}
