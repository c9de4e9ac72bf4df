package servicequotas

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sq "github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas/types"
)

// TestFidelityGetServiceQuota follows Service Quotas API Reference:
// GetServiceQuota. A quota is answered by service and quota code with its
// applied value, read when asked; an unknown one is
// NoSuchResourceException.
func TestFidelityGetServiceQuota(t *testing.T) {
	t.Parallel()
	var fargate atomic.Int64
	fargate.Store(6)
	s := New("us-east-1", "000000000000", func() []Quota {
		return []Quota{{ServiceFargate, FargateOnDemandVCPU, "Fargate On-Demand vCPU resource count", float64(fargate.Load()), "None"}}
	})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c := sq.New(sq.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""), RetryMaxAttempts: 1})
	ctx := context.Background()
	get := func() (*sq.GetServiceQuotaOutput, error) {
		return c.GetServiceQuota(ctx, &sq.GetServiceQuotaInput{ServiceCode: aws.String(ServiceFargate), QuotaCode: aws.String(FargateOnDemandVCPU)})
	}
	out, err := get()
	if err != nil {
		t.Fatal(err)
	}
	if q := out.Quota; aws.ToFloat64(q.Value) != 6 || aws.ToString(q.QuotaName) != "Fargate On-Demand vCPU resource count" ||
		aws.ToString(q.QuotaArn) != "arn:aws:servicequotas:us-east-1:000000000000:fargate/L-3032A538" {
		t.Errorf("GetServiceQuota = %+v", q)
	}
	fargate.Store(48) // a raised quota is answered at once
	if out, err := get(); err != nil || aws.ToFloat64(out.Quota.Value) != 48 {
		t.Errorf("after the increase: %v, %v; want 48", out, err)
	}
	var nsr *types.NoSuchResourceException
	if _, err := c.GetServiceQuota(ctx, &sq.GetServiceQuotaInput{ServiceCode: aws.String(ServiceEC2), QuotaCode: aws.String(EC2OnDemandStandard)}); !errors.As(err, &nsr) {
		t.Errorf("a quota not enforced: got %v, want NoSuchResourceException", err)
	}
}
