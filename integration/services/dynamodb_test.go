package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// startProxied starts dynalite with the product's table and a proxy in
// front of it; it returns a client through the proxy, one straight to
// dynalite and the proxy.
func startProxied(t *testing.T, allOld bool) (proxied, direct *dynamodb.Client, p *dynamoProxy) {
	t.Helper()
	ctx := context.Background()
	d, err := testenv.StartDynalite(ctx, testenv.DynaliteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	if err := createTable(ctx, d, table); err != nil {
		t.Fatal(err)
	}
	p = newDynamoProxy(d.Endpoint, slog.New(slog.DiscardHandler), allOld)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return testenv.DynamoDBClient(srv.URL), d.Client(), p
}

const table = "fidelity"

func s(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }

func key(pk string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"pk": s(pk), "sk": s("x")}
}

// Fidelity: "Amazon DynamoDB API Reference: UpdateItem"
// (ReturnValuesOnConditionCheckFailure) — a write that fails its
// condition and asked ALL_OLD gets the item in the
// ConditionalCheckFailedException's Item; without ALL_OLD, or with no
// item, there is none. The same holds for PutItem and DeleteItem.
func TestConditionCheckFailureReturnsItem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	on, _, _ := startProxied(t, true)
	off, _, _ := startProxied(t, false)
	stored := map[string]ddbtypes.AttributeValue{"pk": s("a"), "sk": s("x"), "v": s("old")}
	for _, c := range []*dynamodb.Client{on, off} {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: stored}); err != nil {
			t.Fatal(err)
		}
	}
	never := aws.String("attribute_not_exists(pk)")
	allOld := ddbtypes.ReturnValuesOnConditionCheckFailureAllOld
	writes := map[string]func(c *dynamodb.Client, pk string, rv ddbtypes.ReturnValuesOnConditionCheckFailure) error{
		"PutItem": func(c *dynamodb.Client, pk string, rv ddbtypes.ReturnValuesOnConditionCheckFailure) error {
			item := key(pk)
			item["v"] = s("new")
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item, ConditionExpression: never, ReturnValuesOnConditionCheckFailure: rv})
			return err
		},
		"UpdateItem": func(c *dynamodb.Client, pk string, rv ddbtypes.ReturnValuesOnConditionCheckFailure) error {
			_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key(pk), UpdateExpression: aws.String("SET v = :v"),
				ConditionExpression: aws.String("v = :w"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": s("new"), ":w": s("other")},
				ReturnValuesOnConditionCheckFailure: rv})
			return err
		},
		"DeleteItem": func(c *dynamodb.Client, pk string, rv ddbtypes.ReturnValuesOnConditionCheckFailure) error {
			_, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key(pk), ConditionExpression: aws.String("attribute_not_exists(v)"),
				ReturnValuesOnConditionCheckFailure: rv})
			return err
		},
	}
	for op, write := range writes {
		for _, tc := range []struct {
			name     string
			client   *dynamodb.Client
			pk       string
			rv       ddbtypes.ReturnValuesOnConditionCheckFailure
			wantItem bool
		}{
			{"ALL_OLD", on, "a", allOld, true},
			{"NONE", on, "a", ddbtypes.ReturnValuesOnConditionCheckFailureNone, false},
			{"ALL_OLD, emulation off", off, "a", allOld, false},
		} {
			err := write(tc.client, tc.pk, tc.rv)
			var ccf *ddbtypes.ConditionalCheckFailedException
			if !errors.As(err, &ccf) {
				t.Fatalf("%s %s: got %v, want ConditionalCheckFailedException", op, tc.name, err)
			}
			if got := ccf.Item != nil; got != tc.wantItem {
				t.Errorf("%s %s: got Item %v, want one: %v", op, tc.name, ccf.Item, tc.wantItem)
				continue
			}
			if tc.wantItem && (len(ccf.Item) != 3 || ccf.Item["v"].(*ddbtypes.AttributeValueMemberS).Value != "old") {
				t.Errorf("%s %s: got Item %v, want the stored item", op, tc.name, ccf.Item)
			}
		}
	}
}

// The emulation reads the item after the failure, so a write that lands
// in between shows through: the limiter's Swap (pkg/limiter, its
// production branch: the failed write's Item, no extra read) must accept
// an item newer than the one its condition failed on, and a Swap from it
// applies. Fidelity: "Amazon DynamoDB API Reference: UpdateItem"
// (ReturnValuesOnConditionCheckFailure).
func TestLimiterSwapToleratesNewerItem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	proxied, direct, p := startProxied(t, true)
	store := limiter.NewDynamoStore(proxied, table)
	other := limiter.NewDynamoStore(direct, table)
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	v1 := limiter.BucketState{TAT: t0, Epoch: 1, Rate: 10, RateAt: t0}
	if ok, _, err := other.Swap(ctx, "k", "b", limiter.BucketState{}, v1); !ok || err != nil {
		t.Fatalf("first write: %v %v", ok, err)
	}
	// A concurrent writer moves the bucket to epoch 2 between the failed
	// write and the emulation's read.
	v2 := v1
	v2.Epoch, v2.Rate = 2, 5
	p.beforeRead = func() {
		if ok, _, err := other.Swap(ctx, "k", "b", v1, v2); !ok || err != nil {
			t.Errorf("concurrent write: %v %v", ok, err)
		}
	}
	stale := limiter.BucketState{TAT: t0, Epoch: 0}
	ok, item, err := store.Swap(ctx, "k", "b", stale, limiter.BucketState{TAT: t0, Epoch: 1, Rate: 7})
	p.beforeRead = nil
	if err != nil || ok {
		t.Fatalf("stale swap: got %v %v, want a failed condition", ok, err)
	}
	if got := item["b"]; got.Epoch != 2 || got.Rate != 5 {
		t.Fatalf("stale swap returned %+v, want the newer item (epoch 2, rate 5)", got)
	}
	if st := store.Stats(); st.Reads != 0 || st.Conflicts != 1 {
		t.Errorf("stats %+v: want the Item of the error used, no extra read", st)
	}
	next := item["b"]
	next.Epoch, next.Rate = 3, 4
	if ok, after, err := store.Swap(ctx, "k", "b", item["b"], next); !ok || err != nil || after["b"].Epoch != 3 {
		t.Fatalf("swap from the newer item: got %v %+v %v, want it applied", ok, after["b"], err)
	}
}

// TestProxySurvivesAbortedBody: a client that goes away in the middle of
// a request body (a function timed out while it wrote a BatchWriteItem)
// must not reach dynalite as an aborted request: dynalite's handler throws
// on it and the process exits, taking every table of the stack with it.
func TestProxySurvivesAbortedBody(t *testing.T) {
	proxied, direct, _ := startProxied(t, true)
	u, err := url.Parse(aws.ToString(proxied.Options().BaseEndpoint))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"RequestItems":{"` + table + `":[` + strings.Repeat(`{"PutRequest":{"Item":{"pk":{"S":"a"},"sk":{"S":"x"}}}},`, 20) + `]}}`
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.BatchWriteItem\r\n"+
		"Authorization: AWS4-HMAC-SHA256 Credential=k/20261207/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\n"+
		"X-Amz-Date: 20261207T000000Z\r\nContent-Length: %d\r\n\r\n%s", u.Host, len(body), body[:len(body)/2])
	time.Sleep(300 * time.Millisecond) // the proxy has the headers and half the body
	_ = conn.Close()
	time.Sleep(300 * time.Millisecond) // an aborted upstream request reaches dynalite
	if _, err := direct.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
		t.Fatalf("dynalite is gone after a client left mid-body: %v", err)
	}
}
