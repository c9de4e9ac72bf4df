package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/config"
)

// limitsEnv starts dynalite with the product's table and returns the
// environment throttlectl reads for it, with initial as TH_LIMITS_JSON.
func limitsEnv(t *testing.T, initial string) Env {
	t.Helper()
	d, err := testenv.StartDynalite(context.Background(), testenv.DynaliteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	if err := testenv.CreateTable(context.Background(), testenv.DynamoDBClient(d.Endpoint), "th-limits"); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
		"AWS_ENDPOINT_URL": d.Endpoint, config.EnvTable: "th-limits", config.EnvLimitsJSON: initial, "USER": "alice",
	}
	return Env{Getenv: func(k string) string { return vars[k] }}
}

func getLimits(t *testing.T, env Env) []LimitsView {
	t.Helper()
	r := run(t, env, "limits", "get", "--json")
	if r.code != ExitOK {
		t.Fatalf("limits get: exit %d: %s", r.code, r.stderr)
	}
	var v []LimitsView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("limits get --json: %v\n%s", err, r.stdout)
	}
	if len(v) != 2 || v[0].Service != "ecs" || v[1].Service != "ec2" {
		t.Fatalf("limits get: want ecs and ec2, got %+v", v)
	}
	return v
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	_ = json.Compact(&b, raw)
	return b.String()
}

func docFile(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "limits.json")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// get, set, a bad set, reset: what each prints and stores.
func TestLimitsGetSetReset(t *testing.T) {
	t.Parallel()
	const initial = `{"actions":{"ecs:FargateTasks":{"rate":15}}}`
	env := limitsEnv(t, initial)
	for _, v := range getLimits(t, env) {
		if v.Source != "initial" || compact(v.Document) != initial || v.Version != 0 {
			t.Fatalf("before any set: %+v, want the initial value", v)
		}
	}
	const doc = `{"actions": {"ecs:FargateTasks": {"rate": 30, "burst": 150}}}`
	if r := run(t, env, "limits", "set", "--file", docFile(t, doc)); r.code != ExitOK {
		t.Fatalf("limits set: exit %d: %s", r.code, r.stderr)
	}
	for _, v := range getLimits(t, env) {
		if v.Source != "table" || compact(v.Document) != `{"actions":{"ecs:FargateTasks":{"rate":30,"burst":150}}}` || v.Version != 1 || v.By != "alice" || v.At.IsZero() {
			t.Fatalf("after set: %+v", v)
		}
	}

	bad := []struct{ doc, key string }{
		{`{"actions": {"ecs:FargateTasks": {"rate": -1}}}`, `limits: actions["ecs:FargateTasks"].rate: must be > 0, got -1`},
		{`{"services": {"ecs": {"decrease": 1.5}}}`, `limits: services["ecs"].decrease: must be in (0, 1), got 1.5`},
		{`{"actoins": {}}`, `limits: actoins: unknown key`},
	}
	for _, b := range bad {
		env.Stdin = strings.NewReader(b.doc)
		r := run(t, env, "limits", "set", "--file", "-", "--by", "mallory")
		if r.code != ExitFailure || !strings.Contains(r.stderr, b.key) {
			t.Fatalf("bad document %s: exit %d, stderr %q; want exit 1 naming %q", b.doc, r.code, r.stderr, b.key)
		}
	}
	env.Stdin = nil
	for _, v := range getLimits(t, env) {
		if v.Version != 1 || v.By != "alice" {
			t.Fatalf("a bad document changed the stored one: %+v", v)
		}
	}

	if r := run(t, env, "limits", "reset", "--by", "bob"); r.code != ExitOK {
		t.Fatalf("limits reset: exit %d: %s", r.code, r.stderr)
	}
	for _, v := range getLimits(t, env) {
		if v.Source != "initial" || compact(v.Document) != initial || v.Version != 2 || v.By != "bob" {
			t.Fatalf("after reset: %+v", v)
		}
	}
	r := run(t, env, "limits", "get", "--service", "ec2")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "ec2: the deployment's initial value") || !strings.Contains(r.stdout, "version 2, by bob") {
		t.Fatalf("limits get --service ec2: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// Sets racing each other: each either wins or fails with the conflict
// (putting back what it wrote), and every service ends with the same
// document, a winner's.
func TestLimitsConcurrentSet(t *testing.T) {
	t.Parallel()
	env := limitsEnv(t, "")
	const n = 6
	codes := make([]result, n)
	docs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		docs[i] = fmt.Sprintf(`{"actions":{"ecs:FargateTasks":{"rate":%d}}}`, 10+i)
		file := docFile(t, docs[i])
		wg.Go(func() { codes[i] = run(t, env, "limits", "set", "--file", file, "--by", fmt.Sprint("user", i)) })
	}
	wg.Wait()
	wins := map[string]bool{}
	for i, r := range codes {
		switch {
		case r.code == ExitOK:
			wins[docs[i]] = true
		case r.code == ExitFailure && strings.Contains(r.stderr, "changed concurrently"):
		default:
			t.Fatalf("set %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	t.Logf("%d of %d sets won", len(wins), n)
	v := getLimits(t, env)
	if d := compact(v[0].Document); !wins[d] || compact(v[1].Document) != d {
		t.Fatalf("ecs %s, ec2 %s: want one winner's document in both", v[0].Document, v[1].Document)
	}
}

func TestLimitsUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"limits"}, {"limits", "drop"}, {"limits", "set", "--file", "/nonexistent/limits.json"}, {"limits", "set"}, {"limits", "get", "--service", "lambda"}, {"limits", "reset", "extra"},
	} {
		if r := run(t, Env{}, args...); r.code != ExitUsage {
			t.Fatalf("%v: exit %d, want %d: %s", args, r.code, ExitUsage, r.stderr)
		}
	}
}

// Who a change is recorded as by default: the user, with the profile.
func TestLimitsCaller(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env     map[string]string
		profile string
		want    string
	}{
		{map[string]string{"USER": "alice"}, "", "alice"},
		{map[string]string{"USER": "alice", "AWS_PROFILE": "prod"}, "", "alice (profile prod)"},
		{map[string]string{"USER": "alice", "AWS_PROFILE": "prod"}, "ops", "alice (profile ops)"},
		{map[string]string{"USERNAME": "bob"}, "", "bob"},
		{map[string]string{}, "", "unknown"},
	} {
		app := &App{Env: Env{Getenv: func(k string) string { return tc.env[k] }}, Globals: Globals{Profile: tc.profile}}
		if got := app.caller(); got != tc.want {
			t.Errorf("env %v, --profile %q: %q, want %q", tc.env, tc.profile, got, tc.want)
		}
	}
}
