package statemachines

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"testing"
)

// TestParentExampleInDocs keeps docs/integration.md's parent workflow equal
// to examples/parent/parent.asl.json, the file TestSyncParent runs.
func TestParentExampleInDocs(t *testing.T) {
	file, err := os.ReadFile("../examples/parent/parent.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("../docs/integration.md")
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(file, &want); err != nil {
		t.Fatalf("parent.asl.json: %v", err)
	}
	for _, m := range regexp.MustCompile("(?s)```json\n(.*?)\n```").FindAllSubmatch(page, -1) {
		var got any
		if json.Unmarshal(m[1], &got) != nil {
			continue
		}
		if doc, ok := got.(map[string]any); ok && doc["StartAt"] == "Launch" && doc["States"].(map[string]any)["ReadLaunchFailure"] != nil {
			if !reflect.DeepEqual(got, want) {
				t.Fatal("docs/integration.md: the parent workflow differs from examples/parent/parent.asl.json")
			}
			return
		}
	}
	t.Fatal("docs/integration.md: no copy of examples/parent/parent.asl.json")
}
