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
