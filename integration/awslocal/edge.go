// Package awslocal is the local AWS: one edge endpoint on 127.0.0.1 that
// serves every service the product uses over its real wire protocol, so the
// unmodified aws-sdk-go-v2 clients work against it with AWS_ENDPOINT_URL.
// Besides the product's services it serves what throttlectl doctor reads
// of the account (account.go): Service Quotas (the simulator's Fargate and
// EC2 vCPU quotas, the local Lambda's concurrency limit) and a minimal IAM
// (CreateRole, GetRole; --iam-roles creates roles at start).
package awslocal

import (
	"net/http"
	"strings"
	"sync"
)

// Service names the edge dispatches to.
const (
	ServiceECS      = "ecs"
	ServiceEC2      = "ec2"
	ServiceSFN      = "sfn"
	ServiceEvents   = "events"
	ServiceSQS      = "sqs"
	ServiceLambda   = "lambda"
	ServiceDynamoDB = "dynamodb"
	ServiceS3       = "s3"
	ServiceAdmin    = "admin" // /_awslocal/... (ledger, stats)
	// Account services for throttlectl doctor (account.go).
	ServiceQuotas      = "servicequotas"
	ServiceIAM         = "iam"
	ServiceUnsupported = ""
)

// Edge routes each request to the handler of its service. Safe for
// concurrent use; handlers may be added while serving.
type Edge struct {
	mu       sync.RWMutex
	services map[string]http.Handler
}

// NewEdge returns an edge with no services.
func NewEdge() *Edge { return &Edge{services: map[string]http.Handler{}} }

// Handle registers h for a service name (Service* constants).
func (e *Edge) Handle(service string, h http.Handler) {
	e.mu.Lock()
	e.services[service] = h
	e.mu.Unlock()
}

// ServiceOf tells which service a request is for, from what the SDK sends:
// the JSON protocols' X-Amz-Target prefix, Lambda's REST path, EC2's Query
// Action, or the admin path.
func ServiceOf(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/_awslocal/") {
		return ServiceAdmin
	}
	if strings.HasPrefix(r.URL.Path, "/2015-03-31/functions/") || isLambdaSettings(r.URL.Path) {
		return ServiceLambda
	}
	if s := accountService(r); s != "" {
		return s
	}
	target := r.Header.Get("X-Amz-Target")
	switch {
	case strings.HasPrefix(target, "AmazonEC2ContainerServiceV20141113."):
		return ServiceECS
	case strings.HasPrefix(target, "AWSStepFunctions."):
		return ServiceSFN
	case strings.HasPrefix(target, "AWSEvents."):
		return ServiceEvents
	case strings.HasPrefix(target, "AmazonSQS."):
		return ServiceSQS
	case strings.HasPrefix(target, "DynamoDB_20120810."):
		return ServiceDynamoDB
	}
	// S3's REST protocol: any request signed for the s3 service.
	if strings.Contains(r.Header.Get("Authorization"), "/s3/aws4_request") {
		return ServiceS3
	}
	// EC2's Query protocol: a form POST signed for the ec2 service.
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") &&
		strings.Contains(r.Header.Get("Authorization"), "/ec2/aws4_request") {
		return ServiceEC2
	}
	return ServiceUnsupported
}

// ServeHTTP dispatches r, or answers 400 UnknownOperationException.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	svc := ServiceOf(r)
	e.mu.RLock()
	h := e.services[svc]
	e.mu.RUnlock()
	if h == nil && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		// A Query-protocol client (CloudFormation, …) reads only XML errors.
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>UnknownOperationException</Code><Message>awslocal does not serve this request</Message></Error><RequestId>0</RequestId></ErrorResponse>`))
		return
	}
	if h == nil {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"UnknownOperationException","message":"awslocal does not serve this request (service ` + svc + `)"}`))
		return
	}
	h.ServeHTTP(w, r)
}

// isLambdaSettings: Lambda's concurrency and account settings paths
// (PutFunctionConcurrency, GetFunctionConcurrency, GetAccountSettings).
func isLambdaSettings(path string) bool {
	return strings.HasPrefix(path, "/2017-10-31/functions/") || strings.HasPrefix(path, "/2019-09-30/functions/") ||
		strings.HasPrefix(path, "/2016-08-19/account-settings")
}

// accountService recognises Service Quotas (JSON 1.1 target) and IAM (a
// Query form signed for iam).
func accountService(r *http.Request) string {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "ServiceQuotasV20190624.") {
		return ServiceQuotas
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") &&
		strings.Contains(r.Header.Get("Authorization"), "/iam/aws4_request") {
		return ServiceIAM
	}
	return ""
}
