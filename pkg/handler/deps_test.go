package handler

import (
	"os/exec"
	"strings"
	"testing"
)

// TestUnitTestsStartNoDynalite: the handler tests run on the in-memory
// store (launchstore.Memory); only the store implementations' own
// conformance tests start dynalite. internal/testenv is what starts it.
func TestUnitTestsStartNoDynalite(t *testing.T) {
	t.Parallel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "-test", ".", "./wire").Output()
	if err != nil {
		t.Fatalf("go list -deps -test: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasSuffix(dep, "/internal/testenv") || strings.Contains(dep, "/integration/") {
			t.Errorf("the pkg/handler tests link %s: use launchstore.NewMemory and the fakes in fakes_test.go", dep)
		}
	}
}
