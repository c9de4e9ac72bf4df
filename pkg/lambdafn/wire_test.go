package lambdafn

import (
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/handler/wire"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// TestLimiterFromEnvironment: the functions' limiter takes its limits,
// scope and look-ahead from the TH_* variables, and a bad limits document
// names TH_LIMITS_JSON.
func TestLimiterFromEnvironment(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(config.FromMap(map[string]string{
		config.EnvLimitsJSON:     `{"accounts": {"eu-west-1": {"actions": {"ecs:RunTask": {"rate": 80, "burst": 200}}}}}`,
		config.EnvRegion:         "eu-west-1",
		config.EnvMaxAhead:       "60",
		config.EnvDeferThreshold: "1.5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var got limiter.Options // as the environment left them: later options see them
	d, err := wire.NewLimiter(limiter.NewMemoryStore(), cfg, func(o *limiter.Options) { got = *o })
	if err != nil {
		t.Fatal(err)
	}
	if key := d.Key("ecs"); key != "limiter#ecs#eu-west-1" {
		t.Errorf("key: got %q, want limiter#ecs#eu-west-1", key)
	}
	if l, _ := d.Limit(limiter.ECSRunTask); l.Rate != 80 || l.Burst != 200 {
		t.Errorf("ecs:RunTask in eu-west-1: got %+v, want 200 / 80", l)
	}
	if got.AccountScope != "eu-west-1" || got.EarlyCalls != 0 || got.MaxAhead != time.Minute {
		t.Errorf("options: scope %q, early calls %v, max ahead %v; want eu-west-1, 0 (pkg/launch calls at the slot), 1m",
			got.AccountScope, got.EarlyCalls, got.MaxAhead)
	}
	cfg.LimitsJSON = `{"actions": {"ecs:RunTask": {"rate": -1}}}`
	if _, err := wire.NewLimiter(limiter.NewMemoryStore(), cfg); err == nil ||
		!strings.Contains(err.Error(), `TH_LIMITS_JSON: limits: actions["ecs:RunTask"].rate: must be > 0, got -1`) {
		t.Errorf("bad limits: got %v", err)
	}
}
