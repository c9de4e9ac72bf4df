package sfn_test

import (
	"encoding/json"
	"testing"

	"github.com/throttle-handler/throttle-handler/integration/services/sfn"
)

// TestWithMaxConcurrency: every Map, nested ones included, gets the
// concurrency; other states and the ${…} placeholders are kept.
func TestWithMaxConcurrency(t *testing.T) {
	t.Parallel()
	def := `{"StartAt": "Outer", "States": {
		"Outer": {"Type": "Map", "MaxConcurrency": 400, "ItemProcessor": {"StartAt": "Inner", "States": {
			"Inner": {"Type": "Map", "ItemProcessor": {"StartAt": "Call", "States": {
				"Call": {"Type": "Task", "Resource": "${RunTaskFunctionArn}", "End": true}}}, "End": true}}}, "Next": "Done"},
		"Done": {"Type": "Succeed"}}}`
	out, err := sfn.WithMaxConcurrency([]byte(def), 7)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		States map[string]struct {
			Type           string
			MaxConcurrency *int
			ItemProcessor  struct {
				States map[string]struct {
					Type           string
					MaxConcurrency *int
					ItemProcessor  struct {
						States map[string]struct{ Resource string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	outer := got.States["Outer"]
	inner := outer.ItemProcessor.States["Inner"]
	if outer.MaxConcurrency == nil || *outer.MaxConcurrency != 7 || inner.MaxConcurrency == nil || *inner.MaxConcurrency != 7 {
		t.Errorf("MaxConcurrency outer %v, inner %v; want 7 and 7", outer.MaxConcurrency, inner.MaxConcurrency)
	}
	if d := got.States["Done"]; d.Type != "Succeed" || d.MaxConcurrency != nil {
		t.Errorf("Done = %+v, want an untouched Succeed state", d)
	}
	if r := inner.ItemProcessor.States["Call"].Resource; r != "${RunTaskFunctionArn}" {
		t.Errorf("placeholder became %q", r)
	}
	if _, err := sfn.WithMaxConcurrency([]byte("{"), 7); err == nil {
		t.Error("broken JSON: got no error")
	}
}
