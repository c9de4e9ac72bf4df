package awslocal_test

import (
	"testing"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// The product replays a client token only while the simulator certainly
// keeps it: a test that shortens the simulator's token lifetime shortens
// the product's (TH_TOKEN_LIFETIME_SECONDS) with it, or the product would
// replay a token the simulator has let go, and launch twice.
func TestProductTokenLifetimeFollowsTheSimulator(t *testing.T) {
	tests := []struct {
		name   string
		tokens sim.Tokens
		want   string
	}{
		{"defaults: an hour", sim.Tokens{}, "3600"},
		{"a 30 s lifetime", sim.Tokens{LifetimeSeconds: 30}, "30"},
		{"tasks stop early", sim.Tokens{AfterStopSeconds: 90}, "90"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := start(t, awslocal.Options{TimeScale: 10, Sim: sim.Config{Tokens: tt.tokens},
				Services: awslocal.ServicesOptions{NoDynamoDB: true}})
			if got := st.Env()[config.EnvTokenLifetime]; got != tt.want {
				t.Errorf("%s = %q, want %q", config.EnvTokenLifetime, got, tt.want)
			}
		})
	}
}
