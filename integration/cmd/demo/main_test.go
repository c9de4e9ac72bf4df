package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
)

// TestDemoCommand runs the demo small, with bucket flags: the report must
// show the flags' buckets (ideal (40 − 10) / 5 = 6 s).
func TestDemoCommand(t *testing.T) {
	t.Parallel()
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("needs the Node tools (make deps): %v", err)
	}
	path := filepath.Join(t.TempDir(), "demo.json")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"--tasks", "40", "--time-scale", "20", "--fargate-burst", "10", "--fargate-rate", "5", "--report", path},
		&stdout, &stderr)
	if code != 0 {
		t.Fatalf("demo: exit %d\nstdout %s\nstderr %s", code, stdout.String(), stderr.String())
	}
	var rep struct {
		Launched, Lost, Duplicates int
		Ideal                      float64                                  `json:"ideal_makespan_s"`
		Buckets                    map[string]struct{ Burst, Rate float64 } `json:"buckets"`
	}
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("report %s: %v", path, err)
	}
	if rep.Launched != 40 || rep.Lost != 0 || rep.Duplicates != 0 || rep.Ideal != 6 || rep.Buckets["ecs:FargateTasks"].Rate != 5 {
		t.Errorf("report %+v: want 40 launched, ideal 6 s from --fargate-burst 10 --fargate-rate 5", rep)
	}
	if !strings.Contains(stdout.String(), "report: "+path) || !strings.Contains(stdout.String(), "chart:  "+strings.TrimSuffix(path, ".json")+".png") {
		t.Errorf("stdout should name the report and the chart:\n%s", stdout.String())
	}
}

// TestUsage: -h lists the flags on stdout and exits 0; bad flags and
// arguments are usage errors (2); bad values fail the run (1) before
// anything starts.
func TestUsage(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		"help":         {args: []string{"-h"}, code: 0, stdout: "-fargate-rate"},
		"unknown flag": {args: []string{"--bogus"}, code: 2, stderr: "flag provided but not defined: -bogus"},
		"argument":     {args: []string{"extra"}, code: 2, stderr: `takes no arguments, got ["extra"]`},
		"bad value":    {args: []string{"--tasks", "-1"}, code: 1, stderr: "demo: --tasks: must be 1..100000"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}
