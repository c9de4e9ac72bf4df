package lambdafn

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/handler/wire"
)

// TestRetryFunctionRoutes: each trigger's document reaches its own typed
// entry point (told apart by what each entry answers to input that needs
// no store).
func TestRetryFunctionRoutes(t *testing.T) {
	t.Parallel()
	f := newRetryFunction(wire.RetryHandlers{
		Chunk:    handler.NewChunkRetry(nil, nil, nil),
		Relaunch: handler.NewRelaunch(nil, nil, nil, nil, nil),
	})
	for name, tc := range map[string]struct {
		in, want, wantErr string
	}{
		"chunk":            {in: `{"chunk":0}`, wantErr: "requestId required"},
		"event":            {in: `{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification"}`, want: `"action":"ignored"`},
		"bad event":        {in: `{"detail-type":5}`, wantErr: "retry event"},
		"sqs batch":        {in: `{"Records":[]}`, wantErr: "at least one record"},
		"not a JSON value": {in: `[1]`, wantErr: "not a JSON object"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := f.Invoke(context.Background(), []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errorType(err) != "PermanentError" {
					t.Fatalf("got %s, %v; want a PermanentError naming %q", out, err, tc.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("got %s, %v; want %s", out, err, tc.want)
			}
		})
	}
}

// errorType is the errorType Lambda reports: the error's own type name.
func errorType(err error) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", err), "*failure.")
}
