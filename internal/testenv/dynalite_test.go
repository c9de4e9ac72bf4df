package testenv

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func TestDynaliteStartsAndStops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := StartDynalite(ctx, DynaliteOptions{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if _, err := d.Client().ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	d.Stop()
	if _, err := d.Client().ListTables(ctx, &dynamodb.ListTablesInput{}); err == nil {
		t.Fatal("ListTables succeeded after Stop")
	}
}
