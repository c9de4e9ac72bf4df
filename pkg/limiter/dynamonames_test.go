package limiter

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// namesAPI records the attribute names of every call and refuses writes.
type namesAPI struct {
	mu    sync.Mutex
	keys  []map[string]ddbtypes.AttributeValue
	names []map[string]string
}

var errRefused = errors.New("refused")

func (a *namesAPI) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys, a.names = append(a.keys, in.Key), append(a.names, in.ExpressionAttributeNames)
	return nil, errRefused
}

func (a *namesAPI) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys = append(a.keys, in.Key)
	return &dynamodb.GetItemOutput{}, nil
}

// TestDynamoStoreAttributeNames: the key schema defaults to the product's
// table (pk, sk, expiresAt) and follows DynamoOptions.
func TestDynamoStoreAttributeNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := map[string]struct {
		opts        []func(*DynamoOptions)
		pk, sk, ttl string
	}{
		"defaults": {nil, "pk", "sk", "expiresAt"},
		"options": {[]func(*DynamoOptions){func(o *DynamoOptions) { o.PartitionKey, o.SortKey, o.TTLAttribute = "PK", "SK", "ttl" }},
			"PK", "SK", "ttl"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := &namesAPI{}
			s := NewDynamoStore(api, "th-test", tt.opts...)
			debits := []Debit{{Bucket: ECSRunTask, Inc: ms(25), Tau: 2500 * time.Millisecond}}
			if _, _, err := s.Take(ctx, "limiter#ecs#x", At(t0, t0.Add(time.Minute)), debits); !errors.Is(err, errRefused) {
				t.Fatalf("Take: got %v, want the refusal", err)
			}
			if _, err := s.Load(ctx, "limiter#ecs#x"); err != nil {
				t.Fatal(err)
			}
			api.mu.Lock()
			defer api.mu.Unlock()
			for i, key := range api.keys {
				pk, ok1 := key[tt.pk].(*ddbtypes.AttributeValueMemberS)
				sk, ok2 := key[tt.sk].(*ddbtypes.AttributeValueMemberS)
				if len(key) != 2 || !ok1 || !ok2 || pk.Value != "limiter#ecs#x" || sk.Value != sortKey {
					t.Errorf("call %d: key %v, want %s = limiter#ecs#x, %s = %s", i, key, tt.pk, tt.sk, sortKey)
				}
			}
			if len(api.names) == 0 || api.names[0]["#e"] != tt.ttl {
				t.Errorf("TTL attribute: got %v, want #e = %s", api.names, tt.ttl)
			}
		})
	}
}
