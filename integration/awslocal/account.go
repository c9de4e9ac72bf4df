package awslocal

import (
	"github.com/throttle-handler/throttle-handler/integration/services/iam"
	"github.com/throttle-handler/throttle-handler/integration/services/servicequotas"
)

// AccountOptions configure the account services throttlectl doctor reads:
// Service Quotas (the simulator's vCPU quotas and the local Lambda's
// concurrency limit, read when asked) and a minimal IAM (CreateRole,
// GetRole).
type AccountOptions struct {
	// Disabled serves neither.
	Disabled bool
	// Roles are created in IAM at start (names), e.g. the task roles a
	// stack passes.
	Roles []string
}

// taskTrust is the trust policy of the roles Roles creates: ECS tasks.
const taskTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// startAccountServices registers Service Quotas and IAM on the edge.
func (s *Stack) startAccountServices(o AccountOptions) error {
	if o.Disabled {
		return nil
	}
	account := s.Sim.Config().Account
	s.IAM = iam.New(account, s.Clock.Now)
	for _, r := range o.Roles {
		if _, err := s.IAM.CreateRole(r, taskTrust); err != nil {
			return err
		}
	}
	s.Edge.Handle(ServiceIAM, s.IAM)
	s.Edge.Handle(ServiceQuotas, servicequotas.New(s.Region, account, s.quotas))
	s.SetEnv("AWS_ENDPOINT_URL_IAM", s.Endpoint)
	s.SetEnv("AWS_ENDPOINT_URL_SERVICE_QUOTAS", s.Endpoint)
	return nil
}

// quotas are the quotas the local AWS enforces now: the simulator's
// Fargate and EC2 vCPU quotas (none when turned off) and the local
// Lambda's concurrent executions.
func (s *Stack) quotas() []servicequotas.Quota {
	c := s.Sim.Config().Capacity
	var out []servicequotas.Quota
	add := func(service, code, name string, v int) {
		if v > 0 {
			out = append(out, servicequotas.Quota{ServiceCode: service, QuotaCode: code, QuotaName: name, Value: float64(v), Unit: "None"})
		}
	}
	add(servicequotas.ServiceFargate, servicequotas.FargateOnDemandVCPU, "Fargate On-Demand vCPU resource count", c.FargateVCPULimit)
	add(servicequotas.ServiceFargate, servicequotas.FargateSpotVCPU, "Fargate Spot vCPU resource count", c.FargateSpotVCPULimit)
	add(servicequotas.ServiceEC2, servicequotas.EC2OnDemandStandard, "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", c.VCPULimit)
	if svc := s.LocalServices(); svc != nil {
		add(servicequotas.ServiceLambda, servicequotas.LambdaConcurrency, "Concurrent executions", svc.Lambda.AccountSettings().ConcurrentExecutions)
	}
	return out
}
