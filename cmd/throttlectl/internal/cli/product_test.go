package cli

import (
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// GIVEN the limiter's table as a flag, as TH_LIMITER_TABLE_NAME (the
// stack output LimiterTableName), or neither
// WHEN a command resolves the product
// THEN the limiter is read from the flag's table, else the variable's,
// else the product's table; a bad flag is refused naming it
func TestProductLimiterTable(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		flag    string
		env     map[string]string
		want    string
		wantErr string
	}{
		"product table": {env: map[string]string{config.EnvTable: "product"}, want: "product"},
		"variable":      {env: map[string]string{config.EnvTable: "product", config.EnvLimiterTable: "shared-limiter"}, want: "shared-limiter"},
		"flag wins": {flag: "other-limiter", env: map[string]string{config.EnvTable: "product", config.EnvLimiterTable: "shared-limiter"},
			want: "other-limiter"},
		"bad flag": {flag: "x", env: map[string]string{config.EnvTable: "product"}, wantErr: "--limiter-table"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{config.EnvRegion: "us-east-1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
			for k, v := range tc.env {
				env[k] = v
			}
			app := &App{Env: Env{Getenv: config.FromMap(env)}}
			p, err := app.product(t.Context(), names{limiterTable: tc.flag}, needTable)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.limiterTable != tc.want || p.table != "product" {
				t.Errorf("got limiter table %q, table %q; want %q, product", p.limiterTable, p.table, tc.want)
			}
			if _, err := p.limiter(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
