package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		env      map[string]string
		required []string
		wantErr  string
	}{
		"defaults":          {env: map[string]string{}},
		"missing required":  {env: map[string]string{}, required: []string{EnvTable}, wantErr: EnvTable},
		"missing relaunch":  {env: map[string]string{EnvTable: "t"}, required: []string{EnvTable, EnvRelaunchQueueURL}, wantErr: EnvRelaunchQueueURL},
		"bad threshold":     {env: map[string]string{EnvDeferThreshold: "soon"}, wantErr: EnvDeferThreshold},
		"threshold too big": {env: map[string]string{EnvDeferThreshold: "1000"}, wantErr: EnvDeferThreshold},
		"bad level":         {env: map[string]string{EnvLogLevel: "loud"}, wantErr: EnvLogLevel},
		"both limits":       {env: map[string]string{EnvLimitsJSON: "{}", EnvLimitsFile: "x"}, wantErr: EnvLimitsFile},
		"missing file":      {env: map[string]string{EnvLimitsFile: "/nonexistent/limits.json"}, wantErr: EnvLimitsFile},
		"limiter table":     {env: map[string]string{EnvLimiterTable: "shared.limiter-1"}},
		"short table":       {env: map[string]string{EnvLimiterTable: "ab"}, wantErr: EnvLimiterTable},
		"table with colon":  {env: map[string]string{EnvLimiterTable: "arn:aws:dynamodb:t"}, wantErr: EnvLimiterTable},
		"long table":        {env: map[string]string{EnvLimiterTable: strings.Repeat("t", 256)}, wantErr: EnvLimiterTable},
		"busy retry":        {env: map[string]string{EnvLimiterBusyRetry: "0.5"}},
		"busy retry zero":   {env: map[string]string{EnvLimiterBusyRetry: "0"}, wantErr: EnvLimiterBusyRetry},
		"busy retry word":   {env: map[string]string{EnvLimiterBusyRetry: "soon"}, wantErr: EnvLimiterBusyRetry},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(FromMap(tc.env), tc.required...)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error naming %s", err, tc.wantErr)
			}
		})
	}
}

func TestEnvironRoundTrip(t *testing.T) {
	t.Parallel()
	c, err := Load(FromMap(map[string]string{EnvTable: "t", EnvRelaunchQueueURL: "http://127.0.0.1/000000000000/relaunch", EnvDeferThreshold: "1.5", EnvRegion: "eu-west-1", EnvResultsBucket: "results"}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(FromMap(c.Environ()))
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Fatalf("got %+v, want %+v", got, c)
	}
	if c.DeferThreshold != 1500*time.Millisecond || c.AccountScope != "eu-west-1" || c.RelaunchQueueURL == "" {
		t.Fatalf("got %+v", c)
	}
}

// The limiter's table and busy retry: defaults that change nothing when
// unset, and the values given otherwise.
func TestLimiterSettings(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		env          map[string]string
		table, scope string
		scopeDefault bool
		busy         time.Duration
	}{
		"unset": {env: map[string]string{EnvTable: "product", EnvRegion: "eu-west-1"},
			table: "product", scope: "eu-west-1", scopeDefault: true, busy: 5 * time.Second},
		"set": {env: map[string]string{EnvTable: "product", EnvLimiterTable: "shared", EnvAccountScope: "111122223333/eu-west-1", EnvLimiterBusyRetry: "2.5"},
			table: "shared", scope: "111122223333/eu-west-1", busy: 2500 * time.Millisecond},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(FromMap(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.LimiterTable != tc.table || c.AccountScope != tc.scope || c.AccountScopeDefault != tc.scopeDefault || c.LimiterBusyRetry != tc.busy {
				t.Fatalf("got table %q scope %q (default %v) busy %v, want %q %q (%v) %v",
					c.LimiterTable, c.AccountScope, c.AccountScopeDefault, c.LimiterBusyRetry, tc.table, tc.scope, tc.scopeDefault, tc.busy)
			}
			got, err := Load(FromMap(c.Environ()))
			if err != nil || got != c {
				t.Fatalf("round trip: got %+v, %v; want %+v", got, err, c)
			}
		})
	}
}
