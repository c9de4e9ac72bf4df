package limiter_test

import (
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/limiter"
	"github.com/throttle-handler/throttle-handler/pkg/limiter/limitertest"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	limitertest.TestStore(t, func(*testing.T) limiter.Store { return limiter.NewMemoryStore() })
}
