package launch_test

import (
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"regexp"
	"strings"
	"testing"
)

var startedByRe = regexp.MustCompile(`^[A-Za-z0-9/_-]{1,36}$`)

func TestStartedByFitsECS(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 256)
	for _, tc := range []struct {
		id             string
		chunk, attempt int
	}{{"r", 0, 1}, {long, 9999, 50}, {"nightly-2026-11-22", 12, 3}} {
		sb := launch.StartedBy(tc.id, tc.chunk, tc.attempt)
		if !startedByRe.MatchString(sb) {
			t.Errorf("StartedBy(%q,%d,%d) = %q: not ≤ 36 of [A-Za-z0-9/_-]", tc.id[:1], tc.chunk, tc.attempt, sb)
		}
		id, ok := launch.ParseStartedBy(sb)
		if !ok || id.Chunk != tc.chunk || id.Attempt != tc.attempt || id.RequestHash != launch.RequestHash(tc.id) {
			t.Errorf("ParseStartedBy(%q) = %+v, %v", sb, id, ok)
		}
		rb := launch.RelaunchStartedBy(tc.id, tc.chunk, "arn:aws:ecs:us-east-1:1:task/c/abc")
		if !startedByRe.MatchString(rb) {
			t.Errorf("RelaunchStartedBy = %q: not ≤ 36 of [A-Za-z0-9/_-]", rb)
		}
		if id, ok := launch.ParseStartedBy(rb); !ok || !id.Relaunch || id.Chunk != tc.chunk {
			t.Errorf("ParseStartedBy(%q) = %+v, %v; want a relaunch of chunk %d", rb, id, ok, tc.chunk)
		}
	}
}

func TestParseStartedByRejectsForeign(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "ecs-svc/123", "th/zz/1/1", "th/0123456789ab/x/1", "th/0123456789ab/1", "th/0123456789ab/1/-1", "th/0123456789ab/1/r1"} {
		if id, ok := launch.ParseStartedBy(s); ok {
			t.Errorf("ParseStartedBy(%q) = %+v, true; want false", s, id)
		}
	}
}

func TestClientToken(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("y", 256)
	tok := launch.ClientToken(long, 9999, 50)
	if len(tok) > 64 {
		t.Fatalf("len %d > 64: %q", len(tok), tok)
	}
	for _, c := range tok + launch.RelaunchToken("arn:aws:ecs:x") {
		if c < 33 || c > 126 {
			t.Fatalf("token %q has %q outside ASCII 33–126", tok, c)
		}
	}
	if a, b := launch.ClientToken("r", 1, 1), launch.ClientToken("r", 1, 1); a != b {
		t.Error("same triple, different tokens")
	}
	seen := map[string]bool{}
	for _, tk := range []string{launch.ClientToken("r", 1, 1), launch.ClientToken("r", 1, 2), launch.ClientToken("r", 2, 1), launch.ClientToken("s", 1, 1), launch.ClientToken("r", 11, 1)} {
		if seen[tk] {
			t.Errorf("token %q repeats", tk)
		}
		seen[tk] = true
	}
	if launch.RelaunchToken("a") == launch.RelaunchToken("b") {
		t.Error("relaunch tokens of two ARNs are equal")
	}
}
