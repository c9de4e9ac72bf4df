package testenv

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// DynamoDBTable starts an in-memory dynalite for t, creates the product's
// table (pk, sk) named table in it and returns a client. dynalite is stopped
// when t ends.
func DynamoDBTable(t testing.TB, table string) *dynamodb.Client {
	t.Helper()
	ctx := context.Background()
	d, err := StartDynalite(ctx, DynaliteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	c := d.Client()
	if err := CreateTable(ctx, c, table); err != nil {
		t.Fatalf("create table %s: %v", table, err)
	}
	return c
}
