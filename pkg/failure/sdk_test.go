package failure

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"
)

// wire is one error response as ECS or EC2 put it on the wire.
type wire struct {
	status int
	body   string
}

func ecsError(status int, code, msg string) wire {
	return wire{status, fmt.Sprintf(`{"__type":%q,"message":%q}`, code, msg)}
}

func ec2Error(status int, code, msg string) wire {
	return wire{status, fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>`, code, msg)}
}

// serve starts a 127.0.0.1 server answering every request with w.
func serve(t *testing.T, w wire) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(w.body, "{") {
			rw.Header().Set("Content-Type", "application/x-amz-json-1.1")
		} else {
			rw.Header().Set("Content-Type", "text/xml")
		}
		rw.WriteHeader(w.status)
		_, _ = rw.Write([]byte(w.body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fastRetryer is the SDK's standard retryer without the backoff sleeps.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 2
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.RateLimiter = noRateLimit{}
	})
}

type noRateLimit struct{}

func (noRateLimit) GetToken(context.Context, uint) (func() error, error) {
	return func() error { return nil }, nil
}
func (noRateLimit) AddTokens(uint) error { return nil }

func runTask(ctx context.Context, url string) error {
	c := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Retryer: fastRetryer(),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
	_, err := c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("job:3"), ClientToken: aws.String("tok")})
	return err
}

func runInstances(ctx context.Context, url string) error {
	c := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Retryer: fastRetryer(),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
	_, err := c.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ClientToken: aws.String("tok")})
	return err
}

// TestClassifyErrorOnTheWire classifies the errors the real aws-sdk-go-v2
// ECS and EC2 clients return for real-shaped error responses.
func TestClassifyErrorOnTheWire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		call      func(context.Context, string) error
		resp      wire
		class     Class
		code, api string
		scope     ScopeKind
		value     string
		reuse     bool
		delay     float64
		attempts  bool // the SDK retried and gave up
	}{
		{"ecs throttled", runTask, ecsError(400, "ThrottlingException", "Rate exceeded"),
			Throttled, "ThrottlingException", "ecs:RunTask", "", "", false, 2, true},
		{"ecs wrapped ec2 throttle", runTask, ecsError(400, "InvalidParameterException", "Error retrieving subnet information for [subnet-0a1b2c3d]: Rate exceeded (ErrorCode: Throttling)"),
			Throttled, "Throttling", "ecs:RunTask", "", "", false, 1, false},
		{"ecs wrapped ec2 request limit", runTask, ecsError(400, "InvalidParameterException", "Error retrieving security group information for [sg-05937427457b61ff5]: Request limit exceeded. (ErrorCode: RequestLimitExceeded)"),
			Throttled, "RequestLimitExceeded", "ecs:RunTask", "", "", false, 1, false},
		{"ecs invalid parameter", runTask, ecsError(400, "InvalidParameterException", "TaskDefinition not found."),
			Permanent, "InvalidParameterException", "ecs:RunTask", "", "", false, 0, false},
		{"ecs provisioning limit", runTask, ecsError(400, "ClientException", "Tasks provisioning capacity limit exceeded."),
			Capacity, "Tasks provisioning capacity limit exceeded", "ecs:RunTask", ScopeCluster, "", false, 5, false},
		{"ecs client exception", runTask, ecsError(400, "ClientException", "The referenced task definition is not valid."),
			Permanent, "ClientException", "ecs:RunTask", "", "", false, 0, false},
		{"ecs server exception", runTask, ecsError(500, "ServerException", "Service Unavailable. Please try again later."),
			Transient, "ServerException", "ecs:RunTask", "", "", true, 1, true},
		{"ecs access denied", runTask, ecsError(400, "AccessDeniedException", "User is not authorized to perform: ecs:RunTask"),
			Permanent, "AccessDeniedException", "ecs:RunTask", "", "", false, 0, false},
		{"ecs limit exceeded", runTask, ecsError(400, "LimitExceededException", "The limit for the resource has been exceeded."),
			Quota, "LimitExceededException", "ecs:RunTask", "", "", false, 60, true},
		{"ecs 502 without a code", runTask, wire{502, "<html>Bad Gateway</html>"},
			Transient, "HTTP502", "ecs:RunTask", "", "", true, 1, true},
		{"ec2 request limit", runInstances, ec2Error(503, "RequestLimitExceeded", "Request limit exceeded. Account 111122223333 has been throttled on ec2:RunInstances because it exceeded its request rate limit."),
			Throttled, "RequestLimitExceeded", "ec2:RunInstances", "", "", false, 2, true},
		{"ec2 insufficient capacity", runInstances, ec2Error(500, "InsufficientInstanceCapacity", "We currently do not have sufficient c7g.large capacity in the Availability Zone you requested (us-east-1a). Our system will be working on provisioning additional capacity. You can currently get c7g.large capacity by not specifying an Availability Zone in your request or choosing us-east-1b, us-east-1c."),
			Capacity, "InsufficientInstanceCapacity", "ec2:RunInstances", ScopeInstanceType, "c7g.large", false, 5, true},
		{"ec2 free addresses", runInstances, ec2Error(400, "InsufficientFreeAddressesInSubnet", "The specified subnet subnet-0a1b2c3d4e5f60718 does not have enough free addresses to satisfy the request."),
			Capacity, "InsufficientFreeAddressesInSubnet", "ec2:RunInstances", ScopeSubnet, "subnet-0a1b2c3d4e5f60718", false, 5, false},
		{"ec2 vcpu limit", runInstances, ec2Error(400, "VcpuLimitExceeded", "You have requested more vCPU capacity than your current vCPU limit of 32 allows."),
			Quota, "VcpuLimitExceeded", "ec2:RunInstances", "", "", false, 60, false},
		{"ec2 instance limit", runInstances, ec2Error(400, "InstanceLimitExceeded", "Your quota allows for 0 more running instance(s). You requested at least 1."),
			Quota, "InstanceLimitExceeded", "ec2:RunInstances", "", "", false, 60, false},
		{"ec2 unsupported az", runInstances, ec2Error(400, "Unsupported", "Your requested instance type (c7g.large) is not supported in your requested Availability Zone (us-east-1e). Please retry your request by not specifying an Availability Zone or choosing us-east-1a, us-east-1b."),
			Capacity, "Unsupported", "ec2:RunInstances", ScopeAZ, "us-east-1e", false, 5, false},
		{"ec2 unsupported other", runInstances, ec2Error(400, "Unsupported", "The requested configuration is currently not supported. Please check the documentation for supported configurations."),
			Permanent, "Unsupported", "ec2:RunInstances", "", "", false, 0, false},
		{"ec2 invalid parameter value", runInstances, ec2Error(400, "InvalidParameterValue", "Value (c7g.huge) for parameter instanceType is invalid."),
			Permanent, "InvalidParameterValue", "ec2:RunInstances", "", "", false, 0, false},
		{"ec2 idempotent mismatch", runInstances, ec2Error(400, "IdempotentParameterMismatch", "Arguments on this idempotent request are inconsistent with arguments used in previous request(s)."),
			Permanent, "IdempotentParameterMismatch", "ec2:RunInstances", "", "", false, 0, false},
		{"ec2 not found", runInstances, ec2Error(400, "InvalidSubnetID.NotFound", "The subnet ID 'subnet-nope' does not exist"),
			Permanent, "InvalidSubnetID.NotFound", "ec2:RunInstances", "", "", false, 0, false},
		{"ec2 internal error", runInstances, ec2Error(500, "InternalError", "An internal error has occurred"),
			Transient, "InternalError", "ec2:RunInstances", "", "", true, 1, true},
		{"ec2 spot capacity", runInstances, ec2Error(500, "InsufficientInstanceCapacity", "There is no Spot capacity available that matches your request."),
			Capacity, "InsufficientInstanceCapacity", "ec2:RunInstances", ScopeInstanceType, "", false, 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call(t.Context(), serve(t, tt.resp))
			if err == nil {
				t.Fatal("call succeeded, want an error")
			}
			got := ClassifyError(err)
			if got.Class != tt.class || got.Code != tt.code || got.API != tt.api || got.Scope != tt.scope ||
				got.ScopeValue != tt.value || got.ReuseToken != tt.reuse || got.MinDelaySeconds != tt.delay {
				t.Errorf("got %s/%s api=%s scope=%s:%s reuse=%v delay=%v\nwant %s/%s api=%s scope=%s:%s reuse=%v delay=%v\nerr: %v",
					got.Class, got.Code, got.API, got.Scope, got.ScopeValue, got.ReuseToken, got.MinDelaySeconds,
					tt.class, tt.code, tt.api, tt.scope, tt.value, tt.reuse, tt.delay, err)
			}
			if got.Source != SourceSDK {
				t.Errorf("source = %s, want sdk", got.Source)
			}
			if hasAttempts := strings.Contains(got.Message, "SDK attempts"); hasAttempts != tt.attempts {
				t.Errorf("message %q mentions SDK attempts = %v, want %v", got.Message, hasAttempts, tt.attempts)
			}
		})
	}
}

// TestClassifyErrorConnection covers failures with no response: the call
// may have happened, so they are transient and reuse the token.
func TestClassifyErrorConnection(t *testing.T) {
	t.Parallel()
	t.Run("connection reset", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			conn, _, err := rw.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST instead of FIN
			}
			_ = conn.Close()
		}))
		defer srv.Close()
		got := ClassifyError(runTask(t.Context(), srv.URL))
		if got.Class != Transient || !got.ReuseToken || got.API != "ecs:RunTask" {
			t.Errorf("got %s/%s reuse=%v api=%s, want transient reuse=true api=ecs:RunTask (%s)", got.Class, got.Code, got.ReuseToken, got.API, got.Message)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		got := ClassifyError(runTask(ctx, srv.URL))
		if got.Class != Transient || got.Code != "DeadlineExceeded" || !got.ReuseToken {
			t.Errorf("got %s/%s reuse=%v, want transient/DeadlineExceeded reuse=true (%s)", got.Class, got.Code, got.ReuseToken, got.Message)
		}
	})
}

func TestClassifyErrorValues(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err   error
		class Class
		code  string
		reuse bool
	}{
		"nil":                          {nil, Permanent, "NoError", false},
		"plain":                        {errors.New("boom"), Transient, "Unknown", true},
		"generic throttle":             {&smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}, Throttled, "ThrottlingException", false},
		"generic unknown client fault": {&smithy.GenericAPIError{Code: "BrandNewException", Fault: smithy.FaultClient}, Permanent, "BrandNewException", false},
		"generic unknown server fault": {&smithy.GenericAPIError{Code: "BrandNewException", Fault: smithy.FaultServer}, Transient, "BrandNewException", true},
		"canceled":                     {fmt.Errorf("runtask: %w", context.Canceled), Transient, "RequestCanceled", true},
		"econnreset":                   {fmt.Errorf("read: %w", syscall.ECONNRESET), Transient, "ConnectionReset", true},
		"econnrefused":                 {&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, Transient, "ConnectionRefused", true},
		"named throttled":              {fmt.Errorf("chunk 3: %w", &ThrottledError{Detail{Code: "RequestLimitExceeded", Op: "ec2:RunInstances", RetryAfter: 3 * time.Second}}), Throttled, "RequestLimitExceeded", false},
		"named transient":              {&TransientError{Detail{Op: "ecs:RunTask", Err: errors.New("lost response")}}, Transient, "Unknown", true},
		"max attempts":                 {&retry.MaxAttemptsError{Attempt: 3, Err: &smithy.GenericAPIError{Code: "Throttling"}}, Throttled, "Throttling", false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := ClassifyError(tt.err)
			if got.Class != tt.class || got.Code != tt.code || got.ReuseToken != tt.reuse {
				t.Errorf("got %s/%s reuse=%v, want %s/%s reuse=%v (%s)", got.Class, got.Code, got.ReuseToken, tt.class, tt.code, tt.reuse, got.Message)
			}
		})
	}
	if got := ClassifyError(&ThrottledError{Detail{RetryAfter: 7 * time.Second}}); got.MinDelaySeconds != 7 {
		t.Errorf("RetryAfter 7s gave minDelaySeconds %v, want 7", got.MinDelaySeconds)
	}
}

// TestChain shows the SDK-style composition: a classifier put in front
// wins, and one with no opinion passes on.
func TestChain(t *testing.T) {
	t.Parallel()
	custom := ErrorClassifierFunc(func(err error) (Classification, bool) {
		if strings.Contains(err.Error(), "quota!") {
			return Classification{Class: Quota, Code: "Custom"}, true
		}
		return Classification{}, false
	})
	chain := append(ErrorClassifiers{custom}, DefaultErrorClassifiers()...)
	if got, ok := chain.ClassifyError(errors.New("quota!")); !ok || got.Code != "Custom" {
		t.Errorf("custom classifier: got %+v ok=%v", got, ok)
	}
	if got, ok := chain.ClassifyError(&smithy.GenericAPIError{Code: "SlowDown"}); !ok || got.Class != Throttled {
		t.Errorf("default classifiers behind it: got %+v ok=%v", got, ok)
	}
	if _, ok := chain.ClassifyError(errors.New("nobody knows")); ok {
		t.Errorf("no classifier should have an opinion on a plain error")
	}
}
