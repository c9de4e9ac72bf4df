package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestShippedCodeLinksNoHarness: throttlectl and every Lambda main
// (functions/*) link nothing of the test harness — no integration/ package
// and no internal/testenv — in the host build and in the Lambda build
// (linux/arm64, -tags lambda.norpc). The local demo, which needs the
// harness, is integration/cmd/demo.
func TestShippedCodeLinksNoHarness(t *testing.T) {
	t.Parallel()
	gobin, err := exec.LookPath("go") // go test puts GOROOT/bin first on PATH
	if err != nil {
		t.Fatalf("the go command: %v", err)
	}
	module := goList(t, gobin, nil, "-m")[0]
	builds := map[string]struct {
		env  []string
		args []string
	}{
		"host":   {},
		"lambda": {env: []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}, args: []string{"-tags", "lambda.norpc"}},
	}
	for name, b := range builds {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// One line per main: its import path, then everything it links.
			args := append([]string{"-f", "{{.ImportPath}} {{join .Deps \" \"}}"}, b.args...)
			for _, line := range goList(t, gobin, b.env, append(args, ".", "../../functions/...")...) {
				pkg, deps, _ := strings.Cut(line, " ")
				for _, dep := range strings.Fields(deps) {
					if strings.HasPrefix(dep, module+"/integration/") || dep == module+"/internal/testenv" {
						t.Errorf("%s (%s build) links %s: shipped code must reach the local AWS over the wire only", pkg, name, dep)
					}
				}
			}
		})
	}
}

// goList runs go list with args and returns its output lines.
func goList(t *testing.T, gobin string, env []string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(gobin, append([]string{"list"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}
