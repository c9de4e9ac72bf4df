package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStderr string
	}{
		{"no subcommand", nil, 2, "limiter "},
		{"unknown subcommand", []string{"nope"}, 2, "usage: bench <subcommand>"},
		{"bad flag", []string{"limiter", "--bogus"}, 1, "flag provided but not defined: -bogus"},
		// bench launch checks its flags before it installs or starts anything.
		{"co-tenant leaves first", []string{"launch", "--cotenant-start", "10", "--cotenant-stop", "5"}, 1, "--cotenant-stop: must be after --cotenant-start"},
		{"co-tenant arrives before submit", []string{"launch", "--cotenant-start", "-1"}, 1, "--cotenant-start"},
		{"negative account rate", []string{"launch", "--scenario", "unknown", "--fargate-rate", "-16"}, 1, "--fargate-rate"},
		{"seed twice", []string{"launch", "--seeds", "1,2,1"}, 1, "--seeds: seed 1 given twice"},
		{"seed and seeds", []string{"launch", "--seed", "4", "--seeds", "1,2"}, 1, "--seed or --seeds, not both"},
		{"not a seed", []string{"launch", "--seeds", "1,two"}, 1, "--seeds"},
		{"run time without waiting", []string{"launch", "--task-run-seconds", "30"}, 1, "--task-run-seconds: only with --wait-for-completion"},
		{"items outside burst", []string{"launch", "--items", "--scenario", "cotenant"}, 1, "--scenario burst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			if got := run(context.Background(), tt.args, &out, &errOut); got != tt.code {
				t.Fatalf("exit code: got %d, want %d (stderr %q)", got, tt.code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.wantStderr) {
				t.Fatalf("stderr %q does not contain %q", errOut.String(), tt.wantStderr)
			}
		})
	}
}

func TestLimiterOutput(t *testing.T) {
	t.Parallel()
	r := limiterReport{LocalNsPerOp: 130, XRateNsPerOp: 80, DDBWritesPerAcquire: 1.05}
	var table bytes.Buffer
	limiterTable(&table, r)
	for _, want := range []string{"local Allow ns/op", "MISSED", "DynamoDB writes per acquisition"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	doc, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := writeOutput("-", &out, doc, nil); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("--json - wrote %q: %v", out.String(), err)
	}
	for _, k := range []string{"local_ns_per_op", "xrate_ns_per_op", "local_allocs_per_op", "overadmissions", "ddb_writes_per_acquire", "ddb_acquires_per_s"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out.String())
		}
	}
}
