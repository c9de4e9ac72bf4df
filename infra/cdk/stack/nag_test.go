package stack

import (
	"testing"
)

// GIVEN the fully configured stack with the AwsSolutions pack
// WHEN it is synthesized
// THEN cdk-nag reports no unsuppressed error
func TestCdkNagAwsSolutions(t *testing.T) {
	s := sharedStack(t)
	for _, e := range s.nagErrs {
		t.Errorf("unsuppressed cdk-nag error: %s", e)
	}
	for _, w := range s.nagWarns {
		t.Logf("cdk-nag warning: %s", w)
	}
}
