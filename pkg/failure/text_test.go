package failure

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// GIVEN messages long, invalid or cut inside a rune
// WHEN clipped
// THEN each is valid UTF-8 of at most maxText bytes, keeping what fits
func TestClip(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int // bytes kept
	}{
		{"short", "ThrottlingException: Rate exceeded", 34},
		{"long ASCII", strings.Repeat("a", 3*maxText), maxText},
		// Each stray byte between letters becomes a 3-byte U+FFFD: the
		// first maxText bytes grow to twice that, cut back to maxText.
		{"stray bytes", strings.Repeat("a\x91", maxText), maxText},
		// The first half of é becomes U+FFFD, which no longer fits.
		{"rune across the cut", strings.Repeat("a", maxText-1) + "é", maxText - 1},
	} {
		got := clip(tc.in)
		if !utf8.ValidString(got) || len(got) > maxText {
			t.Errorf("%s: %d bytes, valid %v: want valid, ≤ %d", tc.name, len(got), utf8.ValidString(got), maxText)
		}
		if len(got) != tc.want {
			t.Errorf("%s: kept %d bytes, want %d", tc.name, len(got), tc.want)
		}
	}
}
