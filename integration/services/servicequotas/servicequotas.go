// Package servicequotas is the local Service Quotas: GetServiceQuota over
// the JSON 1.1 protocol (X-Amz-Target ServiceQuotasV20190624.*), answering
// the quotas the local AWS enforces, read when asked (so a test that
// changes the simulator's capacity sees the new value). A quota the local
// AWS does not enforce is NoSuchResourceException: nothing here would
// hold a request to it.
package servicequotas

import (
	"fmt"
	"net/http"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
)

// Quota codes of the quotas throttlectl doctor reads (Service Quotas
// console and "AWS Fargate service quotas", "Amazon EC2 service quotas",
// "Lambda quotas").
const (
	ServiceFargate = "fargate"
	ServiceEC2     = "ec2"
	ServiceLambda  = "lambda"

	FargateOnDemandVCPU = "L-3032A538" // Fargate On-Demand vCPU resource count
	FargateSpotVCPU     = "L-36FBB829" // Fargate Spot vCPU resource count
	EC2OnDemandStandard = "L-1216C47A" // Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances, in vCPUs
	LambdaConcurrency   = "L-B99A9384" // Concurrent executions
)

// Quota is one applied quota value.
type Quota struct {
	ServiceCode, QuotaCode, QuotaName string
	Value                             float64
	Unit                              string // "None" for counts
}

// Source returns the quotas in force now.
type Source func() []Quota

// Service answers GetServiceQuota from a Source.
type Service struct {
	region, account string
	quotas          Source
}

// New returns the service for an account and region.
func New(region, account string, quotas Source) *Service {
	return &Service{region: region, account: account, quotas: quotas}
}

const contentType = "application/x-amz-json-1.1"

// ServeHTTP serves GetServiceQuota.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if op := awsjson.Operation(r); op != "GetServiceQuota" {
		awsjson.WriteError(w, contentType, awsjson.Errorf(400, "UnknownOperationException", "awslocal does not implement Service Quotas %s", op))
		return
	}
	var in struct{ ServiceCode, QuotaCode string }
	if err := awsjson.Decode(r, &in, "IllegalArgumentException"); err != nil {
		awsjson.WriteError(w, contentType, err)
		return
	}
	if in.ServiceCode == "" || in.QuotaCode == "" {
		awsjson.WriteError(w, contentType, awsjson.Errorf(400, "IllegalArgumentException", "ServiceCode and QuotaCode are required"))
		return
	}
	for _, q := range s.quotas() {
		if q.ServiceCode == in.ServiceCode && q.QuotaCode == in.QuotaCode {
			awsjson.Write(w, contentType, map[string]any{"Quota": map[string]any{
				"ServiceCode": q.ServiceCode, "QuotaCode": q.QuotaCode, "QuotaName": q.QuotaName, "Value": q.Value,
				"Unit": q.Unit, "Adjustable": true, "GlobalQuota": false,
				"QuotaArn": fmt.Sprintf("arn:aws:servicequotas:%s:%s:%s/%s", s.region, s.account, q.ServiceCode, q.QuotaCode),
			}})
			return
		}
	}
	awsjson.WriteError(w, contentType, awsjson.Errorf(400, "NoSuchResourceException",
		"The request failed because the specified quota %s of service %s does not exist here (the local AWS does not enforce it).", in.QuotaCode, in.ServiceCode))
}
