package wire

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// tableRecorder is a DynamoAPI that records the tables it is asked about
// and fails every call with err (nil: an empty item).
type tableRecorder struct {
	mu     sync.Mutex
	tables []string
	err    error
}

func (f *tableRecorder) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tables = append(f.tables, aws.ToString(in.TableName))
	return &dynamodb.GetItemOutput{}, f.err
}

func (f *tableRecorder) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tables = append(f.tables, aws.ToString(in.TableName))
	return &dynamodb.UpdateItemOutput{}, f.err
}

// GIVEN the functions' environment with and without TH_LIMITER_TABLE_NAME
// WHEN the limiter they build reads its bucket item, and its table fails
// THEN it reads the limiter table (the product's when unset), and answers
// busy with TH_LIMITER_BUSY_RETRY_SECONDS as the retry.
func TestLimiterUsesLimiterTable(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		env   map[string]string
		table string
		busy  time.Duration
	}{
		"unset: the product's table": {env: map[string]string{config.EnvTable: "product"}, table: "product", busy: 5 * time.Second},
		"shared limiter table": {env: map[string]string{config.EnvTable: "product", config.EnvLimiterTable: "shared-limiter",
			config.EnvLimiterBusyRetry: "1.5"}, table: "shared-limiter", busy: 1500 * time.Millisecond},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(config.FromMap(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			api := &tableRecorder{}
			lim, err := NewLimiter(LimiterStore(api, cfg), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := lim.Status(context.Background(), "ecs"); err != nil {
				t.Fatal(err)
			}
			api.err = errors.New("table unavailable")
			_, err = lim.Status(context.Background(), "ecs")
			busy, ok := errors.AsType[*limiter.StoreBusyError](err)
			if !ok || busy.Wait != tc.busy {
				t.Errorf("failing table: got %v, want busy with a retry after %v", err, tc.busy)
			}
			for _, got := range api.tables {
				if got != tc.table {
					t.Fatalf("limiter read table %q, want %q (all: %v)", got, tc.table, api.tables)
				}
			}
		})
	}
}

// GIVEN limitsJson with a per-account override, and the scope the CDK
// stack sets (TH_ACCOUNT_SCOPE = "<account>/<region>")
// WHEN the functions build their limiter
// THEN the override applies to that account only, and the bucket item is
// keyed by it.
func TestAccountOverrideAppliesToDeployedScope(t *testing.T) {
	t.Parallel()
	limits := `{"accounts": {"111122223333/us-east-1": {"actions": {"ecs:RunTask": {"rate": 7, "burst": 9}}}}}`
	tests := map[string]struct {
		scope string
		rate  float64
	}{
		"the overridden account": {scope: "111122223333/us-east-1", rate: 7},
		"another account":        {scope: "444455556666/us-east-1", rate: -1},
		"region only (old key)":  {scope: "", rate: -1},
	}
	def, err := limiter.ParseLimits("")
	if err != nil {
		t.Fatal(err)
	}
	dflt, err := def.Bucket("us-east-1", limiter.ECSRunTask)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(config.FromMap(map[string]string{config.EnvTable: "product", config.EnvRegion: "us-east-1",
				config.EnvLimitsJSON: limits, config.EnvAccountScope: tc.scope}))
			if err != nil {
				t.Fatal(err)
			}
			lim, err := NewLimiter(limiter.NewMemoryStore(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.rate
			if want < 0 {
				want = float64(dflt.Rate)
			}
			if l, _ := lim.Limit(limiter.ECSRunTask); float64(l.Rate) != want {
				t.Errorf("ecs:RunTask rate: got %v, want %v", l.Rate, want)
			}
			if key, wantKey := lim.Key("ecs"), "limiter#ecs#"+cfg.AccountScope; key != wantKey {
				t.Errorf("key: got %q, want %q", key, wantKey)
			}
		})
	}
}
