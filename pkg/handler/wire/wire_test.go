package wire

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

func TestBuildersNameMissingVariables(t *testing.T) {
	t.Parallel()
	full := config.Config{Table: "t", EventBus: "b", DLQURL: "http://127.0.0.1/q", RelaunchQueueURL: "http://127.0.0.1/relaunch",
		Region: "us-east-1", AccountScope: "us-east-1"}
	awsCfg := aws.Config{Region: "us-east-1"}
	tests := map[string]struct {
		build func(Deps) error
		miss  string
	}{
		"plan":                             {func(d Deps) error { _, err := Plan(d); return err }, config.EnvTable},
		"runtask":                          {func(d Deps) error { _, err := RunTask(d); return err }, config.EnvTable},
		"retry":                            {func(d Deps) error { _, err := Retry(d); return err }, config.EnvDLQURL},
		"retry without the relaunch queue": {func(d Deps) error { _, err := Retry(d); return err }, config.EnvRelaunchQueueURL},
		"summary":                          {func(d Deps) error { _, err := Summary(d); return err }, config.EnvEventBus},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := tt.build(Deps{Config: full, AWS: awsCfg}); err != nil {
				t.Fatalf("full config: %v", err)
			}
			cfg := full
			switch tt.miss {
			case config.EnvTable:
				cfg.Table = ""
			case config.EnvDLQURL:
				cfg.DLQURL = ""
			case config.EnvEventBus:
				cfg.EventBus = ""
			case config.EnvRelaunchQueueURL:
				cfg.RelaunchQueueURL = ""
			}
			err := tt.build(Deps{Config: cfg, AWS: awsCfg})
			if err == nil || !strings.Contains(err.Error(), tt.miss) {
				t.Fatalf("got %v, want an error naming %s", err, tt.miss)
			}
		})
	}
}

func TestBadLimitsRejected(t *testing.T) {
	t.Parallel()
	cfg := config.Config{Table: "t", LimitsJSON: `{"actions":{"ecs:RunTask":{"rate":-1}}}`}
	if _, err := RunTask(Deps{Config: cfg}); err == nil || !strings.Contains(err.Error(), "rate") {
		t.Fatalf("got %v, want an error naming the rate", err)
	}
}
