package awslocal_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	sq "github.com/aws/aws-sdk-go-v2/service/servicequotas"
	sqtypes "github.com/aws/aws-sdk-go-v2/service/servicequotas/types"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// TestAccountServicesFromEnv: with only Env, the unmodified SDK reads the
// account's Lambda settings (the flag's limit less the stack's
// reservations, runtask 100 and retry 20), the simulator's quotas through
// Service Quotas, and the roles --iam-roles created, through the edge.
func TestAccountServicesFromEnv(t *testing.T) {
	fs := flag.NewFlagSet("awslocal", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := awslocal.BindFlags(fs)
	if err := fs.Parse([]string{"--lambda-concurrency", "300", "--iam-roles", "job-task, job-exec", "--fargate-vcpu-limit", "6", "--vcpu-limit", "32"}); err != nil {
		t.Fatal(err)
	}
	o, err := f.Options(fs)
	if err != nil {
		t.Fatal(err)
	}
	o.Addr, o.TimeScale, o.Services.NoDynamoDB = "127.0.0.1:0", 20, true
	st := start(t, o)
	env := st.Env()
	for _, k := range []string{"AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_SERVICE_QUOTAS"} {
		if env[k] != st.Endpoint {
			t.Errorf("%s = %q, want %s", k, env[k], st.Endpoint)
		}
	}
	ctx := context.Background()
	cfg := envConfig(t, env)
	as, err := lambda.NewFromConfig(cfg).GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if l := as.AccountLimit; l.ConcurrentExecutions != 300 || aws.ToInt32(l.UnreservedConcurrentExecutions) != 180 {
		t.Errorf("AccountLimit %d / %d unreserved, want 300 / 180", l.ConcurrentExecutions, aws.ToInt32(l.UnreservedConcurrentExecutions))
	}
	quotas := sq.NewFromConfig(cfg)
	for _, tc := range []struct {
		service, code string
		want          float64
	}{{"fargate", "L-3032A538", 6}, {"ec2", "L-1216C47A", 32}, {"lambda", "L-B99A9384", 300}} {
		out, err := quotas.GetServiceQuota(ctx, &sq.GetServiceQuotaInput{ServiceCode: aws.String(tc.service), QuotaCode: aws.String(tc.code)})
		if err != nil || aws.ToFloat64(out.Quota.Value) != tc.want {
			t.Errorf("quota %s/%s: %v, %v; want %g", tc.service, tc.code, out, err, tc.want)
		}
	}
	st.Sim.SetCapacity(sim.Capacity{FargateVCPULimit: -1, VCPULimit: 32}) // the Fargate quota turned off
	var nsr *sqtypes.NoSuchResourceException
	if _, err := quotas.GetServiceQuota(ctx, &sq.GetServiceQuotaInput{ServiceCode: aws.String("fargate"), QuotaCode: aws.String("L-3032A538")}); !errors.As(err, &nsr) {
		t.Errorf("a quota turned off: got %v, want NoSuchResourceException", err)
	}
	roles := iam.NewFromConfig(cfg)
	for _, r := range []string{"job-task", "job-exec"} {
		if _, err := roles.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(r)}); err != nil {
			t.Errorf("GetRole %s: %v", r, err)
		}
	}
	var nse *iamtypes.NoSuchEntityException
	if _, err := roles.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("other")}); !errors.As(err, &nse) {
		t.Errorf("GetRole other: got %v, want NoSuchEntity", err)
	}
}

// envConfig is the SDK's default configuration with only env set (as a
// user's shell after the export lines).
func envConfig(t *testing.T, env map[string]string) aws.Config {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
