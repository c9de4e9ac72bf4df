package submit

import (
	"regexp"
	"strings"
	"testing"
)

var validName = regexp.MustCompile(`^[0-9A-Za-z_-]{1,80}$`)

func TestExecutionName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 81)
	tests := []struct {
		id   string
		want string // "" = hashed: check the shape only
		pre  string // expected prefix of a hashed name
	}{
		{id: "nightly-2026-11-22", want: "nightly-2026-11-22"},
		{id: "A_b-9", want: "A_b-9"},
		{id: strings.Repeat("x", 80), want: strings.Repeat("x", 80)},
		{id: long, pre: strings.Repeat("a", 63) + "-"},
		{id: "nightly.2026/11:22", pre: "nightly_2026_11_22-"},
		{id: "a b", pre: "a_b-"},
		{id: "", pre: "-"},
	}
	for _, tt := range tests {
		got := ExecutionName(tt.id)
		if !validName.MatchString(got) {
			t.Errorf("ExecutionName(%q) = %q: not 1..80 of [0-9A-Za-z_-]", tt.id, got)
		}
		if got != ExecutionName(tt.id) {
			t.Errorf("ExecutionName(%q) is not deterministic", tt.id)
		}
		if tt.want != "" && got != tt.want {
			t.Errorf("ExecutionName(%q) = %q, want %q", tt.id, got, tt.want)
		}
		if tt.pre != "" && (!strings.HasPrefix(got, tt.pre) || len(got) != len(tt.pre)+hashLen) {
			t.Errorf("ExecutionName(%q) = %q, want %q + %d hex digits", tt.id, got, tt.pre, hashLen)
		}
	}
}

func TestExecutionNameDistinct(t *testing.T) {
	t.Parallel()
	// Ids that sanitise or truncate to the same prefix must still differ.
	ids := []string{"a.b", "a/b", "a:b", "a_b", strings.Repeat("a", 81), strings.Repeat("a", 82), strings.Repeat("a", 63) + ".x", strings.Repeat("a", 63) + ".y"}
	seen := map[string]string{}
	for _, id := range ids {
		n := ExecutionName(id)
		if prev, ok := seen[n]; ok {
			t.Errorf("ExecutionName(%q) = ExecutionName(%q) = %q", id, prev, n)
		}
		seen[n] = id
	}
}

func FuzzExecutionName(f *testing.F) {
	for _, s := range []string{"", "nightly-2026-11-22", "a.b", strings.Repeat("é", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if n := ExecutionName(id); !validName.MatchString(n) {
			t.Fatalf("ExecutionName(%q) = %q", id, n)
		}
	})
}

func TestExecutionARN(t *testing.T) {
	t.Parallel()
	got := ExecutionARN("arn:aws:states:us-east-1:000000000000:stateMachine:launch", "r1")
	if want := "arn:aws:states:us-east-1:000000000000:execution:launch:r1"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
