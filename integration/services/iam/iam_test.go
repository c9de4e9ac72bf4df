package iam

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// TestFidelityGetRole follows AWS Identity and Access Management API
// Reference: GetRole and CreateRole. A created role is answered with its
// name, ARN in the account and path "/"; an unknown role is NoSuchEntity
// (HTTP 404), a second CreateRole of a name EntityAlreadyExists.
func TestFidelityGetRole(t *testing.T) {
	t.Parallel()
	s := New("000000000000", func() time.Time { return time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC) })
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c := awsiam.New(awsiam.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""), RetryMaxAttempts: 1})
	ctx := context.Background()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	if _, err := c.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String("job-task"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetRole(ctx, &awsiam.GetRoleInput{RoleName: aws.String("job-task")})
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Role; aws.ToString(r.Arn) != "arn:aws:iam::000000000000:role/job-task" || aws.ToString(r.Path) != "/" || r.CreateDate == nil || !r.CreateDate.Equal(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("GetRole = %+v", r)
	}
	var nse *types.NoSuchEntityException
	if _, err := c.GetRole(ctx, &awsiam.GetRoleInput{RoleName: aws.String("nope")}); !errors.As(err, &nse) {
		t.Errorf("unknown role: got %v, want NoSuchEntity", err)
	}
	var exists *types.EntityAlreadyExistsException
	if _, err := c.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String("job-task"), AssumeRolePolicyDocument: aws.String(trust)}); !errors.As(err, &exists) {
		t.Errorf("second CreateRole: got %v, want EntityAlreadyExists", err)
	}
}
