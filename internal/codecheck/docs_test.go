package codecheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// inlineLink matches [text](target) and ![alt](target), with an
	// optional "title"; refLink matches a reference definition [name]: target.
	inlineLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLink    = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)`)
	codeSpan   = regexp.MustCompile("`[^`\n]*`")
	scheme     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// TestDocLinks fails on a relative link in a markdown file of the
// repository whose target does not exist or lies outside the repository.
// Links with a scheme (https:, mailto:) and same-page anchors are not
// checked; code blocks and code spans are not links.
func TestDocLinks(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	isDoc := func(name string) bool { return strings.HasSuffix(name, ".md") }
	err = walkFiles(root, isDoc, func(path string) error {
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, target := range linkTargets(string(b)) {
			if msg := checkTarget(root, filepath.Dir(path), target); msg != "" {
				t.Errorf("%s: link %q: %s", filepath.ToSlash(rel), target, msg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no markdown files found under %s", root)
	}
}

// linkTargets returns the targets of the links in a markdown text, leaving
// out fenced code blocks and code spans.
func linkTargets(md string) []string {
	var prose strings.Builder
	fenced := false
	for line := range strings.Lines(md) {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fenced = !fenced
			continue
		}
		if !fenced {
			prose.WriteString(codeSpan.ReplaceAllString(line, "``"))
		}
	}
	var out []string
	for _, re := range []*regexp.Regexp{inlineLink, refLink} {
		for _, m := range re.FindAllStringSubmatch(prose.String(), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// checkTarget says what is wrong with a link target written in dir, or "".
func checkTarget(root, dir, target string) string {
	if scheme.MatchString(target) || strings.HasPrefix(target, "#") {
		return ""
	}
	target, _, _ = strings.Cut(target, "#")
	target, _, _ = strings.Cut(target, "?")
	path := filepath.Join(dir, filepath.FromSlash(target))
	if strings.HasPrefix(target, "/") {
		path = filepath.Join(root, filepath.FromSlash(target))
	}
	if rel, err := filepath.Rel(root, path); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "points outside the repository"
	}
	if _, err := os.Stat(path); err != nil {
		return "target does not exist"
	}
	return ""
}
