package launchstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore/storetest"
)

// One dynalite for the package; each store gets its own table.
var (
	dynalite *testenv.Dynalite
	tableSeq atomic.Int64
)

func TestMain(m *testing.M) {
	d, err := testenv.StartDynalite(context.Background(), testenv.DynaliteOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "dynalite:", err)
		os.Exit(1)
	}
	dynalite = d
	code := m.Run()
	d.Stop()
	os.Exit(code)
}

// newDynamoDB returns a store on a new, active table.
func newDynamoDB(t *testing.T) *launchstore.DynamoDB {
	t.Helper()
	c, name := newTable(t)
	st := launchstore.NewDynamoDB(c, name)
	launchstore.SetPageLimit(st, suitePageLimit)
	return st
}

// suitePageLimit makes the suite's queries span pages with a few items
// (dynalite, as DynamoDB, pages at 1 MB).
const suitePageLimit = 4

// newTable makes a new, active table and returns a client for it.
func newTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	name := fmt.Sprintf("table-%d", tableSeq.Add(1))
	c := testenv.PooledDynamoDBClient(dynalite.Endpoint, 64)
	ctx := context.Background()
	if err := testenv.CreateTable(ctx, c, name); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil && out.Table.TableStatus == ddbtypes.TableStatusActive {
			break
		}
		if i == 200 {
			t.Fatalf("table %s not active: %v", name, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c, name
}

// TestDynamoDB runs the conformance suite on dynalite through the real
// aws-sdk-go-v2 client.
func TestDynamoDB(t *testing.T) {
	t.Parallel()
	storetest.TestStore(t, func(t *testing.T) launchstore.Store { return newDynamoDB(t) })
}

// GIVEN a stored request whose deadline attribute is corrupt
// WHEN it is loaded
// THEN Request fails naming the deadline, instead of a zero deadline that
// every handler would read as passed (and give the chunks up)
func TestDynamoDBCorruptDeadlineIsAnError(t *testing.T) {
	t.Parallel()
	st := newDynamoDB(t)
	ctx := context.Background()
	if _, err := st.CreateRequest(ctx, launchtest.ECSRequest("r1", 10), launchtest.T0); err != nil {
		t.Fatal(err)
	}
	c := testenv.PooledDynamoDBClient(dynalite.Endpoint, 4)
	if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Table()),
		Key: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: "req#r1"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "meta"},
		},
		UpdateExpression:          aws.String("SET deadline = :d"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":d": &ddbtypes.AttributeValueMemberS{Value: "tomorrow"}},
	}); err != nil {
		t.Fatal(err)
	}
	fresh := launchstore.NewDynamoDB(c, st.Table()) // no cached copy
	if _, err := fresh.Request(ctx, "r1"); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("Request: %v, want an error naming the deadline", err)
	}
}
