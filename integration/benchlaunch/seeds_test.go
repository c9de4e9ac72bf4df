package benchlaunch

import (
	"bytes"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	rs := []Result{
		{Scenario: Burst, Strategy: Ours, Seed: 1, MakespanRatio: 1.10, ThrottledPct: 0, CotenantThrottledCalls: 0, IdealMakespanS: 95},
		{Scenario: Burst, Strategy: Naive, Seed: 1, MakespanRatio: 1.00, ThrottledPct: 80},
		{Scenario: Burst, Strategy: ASLJitter, Skipped: "not here"},
		{Scenario: Burst, Strategy: Ours, Seed: 2, MakespanRatio: 1.02, ThrottledPct: 1, Error: "timed out"},
		{Scenario: Burst, Strategy: Naive, Seed: 2, MakespanRatio: 1.04, ThrottledPct: 90},
		{Scenario: Burst, Strategy: Ours, Seed: 3, MakespanRatio: 1.05, ThrottledPct: 0.5},
	}
	ss := Summarize(rs)
	if len(ss) != 2 || ss[0].Strategy != Ours || ss[1].Strategy != Naive {
		t.Fatalf("got %+v, want ours then naive, the skipped pair left out", ss)
	}
	ours := ss[0]
	if ours.MakespanRatio != (Spread{Median: 1.05, Min: 1.02, Max: 1.10}) || ours.ThrottledPct != (Spread{Median: 0.5, Min: 0, Max: 1}) {
		t.Errorf("ours: ratio %+v throttled %+v, want the middle of three and the range", ours.MakespanRatio, ours.ThrottledPct)
	}
	if len(ours.Seeds) != 3 || len(ours.Errors) != 1 || !strings.Contains(ours.Errors[0], "seed 2") || ours.IdealMakespanS != 95 {
		t.Errorf("ours: seeds %v errors %v ideal %v", ours.Seeds, ours.Errors, ours.IdealMakespanS)
	}
	if got := ss[1].MakespanRatio.Median; got != 1.02 {
		t.Errorf("naive: median of two %v, want their mean 1.02", got)
	}
	var buf bytes.Buffer
	if err := WriteSummary(&buf, ss); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1.050 [1.020–1.100]", "seed 2: timed out", "co-tenant thr"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestParseSeeds(t *testing.T) {
	t.Parallel()
	if got, err := ParseSeeds("1, 2,3"); err != nil || len(got) != 3 || got[2] != 3 {
		t.Errorf("ParseSeeds(1, 2,3) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1,,2", "0", "-1", "1.5", "x", "1,1", "2 3"} {
		if _, err := ParseSeeds(bad); err == nil || !strings.Contains(err.Error(), "--seeds") {
			t.Errorf("ParseSeeds(%q): got %v, want an error naming --seeds", bad, err)
		}
	}
}
