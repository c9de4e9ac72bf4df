package testenv

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// DynamoDBTable starts an in-memory dynalite for t, creates the product's
// table (pk, sk) named table in it and returns a client with a connection
// pool for hundreds of concurrent callers. dynalite is stopped when t ends.
func DynamoDBTable(t testing.TB, table string) *dynamodb.Client {
	t.Helper()
	ctx := context.Background()
	d, err := StartDynalite(ctx, DynaliteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	c := PooledDynamoDBClient(d.Endpoint, 512)
	if err := CreateTable(ctx, c, table); err != nil {
		t.Fatalf("create table %s: %v", table, err)
	}
	return c
}

// PooledDynamoDBClient is DynamoDBClient with a connection pool sized for
// many concurrent callers (the SDK keeps 10 idle connections per host, so
// hundreds of goroutines would open and close connections all the time).
func PooledDynamoDBClient(endpoint string, conns int) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = conns
			t.MaxIdleConnsPerHost = conns
		}),
	})
}
