package sim

import (
	"fmt"
	"math"
	"time"
)

// ECS Service Action event names the co-tenants receive.
const (
	EventECSOperationThrottled              = "ECS_OPERATION_THROTTLED"
	EventServiceDiscoveryOperationThrottled = "SERVICE_DISCOVERY_OPERATION_THROTTLED"
)

// Cotenants are ECS services of other teams in the same account. Each
// deploys or scales on its own (seeded, Poisson) schedule, launching Fargate
// tasks through the account's shared budget: the Fargate task launch
// bucket (and the RunTask API buckets with ChargeRunTaskAPI), the hidden
// ENI and load balancer buckets, and (every second service) Cloud Map. When a bucket it needs is short, ECS emits an "ECS Service Action"
// event — ECS_OPERATION_THROTTLED, or SERVICE_DISCOVERY_OPERATION_THROTTLED
// for Cloud Map — and the service retries after RetrySeconds.
type Cotenants struct {
	// Services is the number of co-tenant services. Default 0 (none).
	Services int `json:"services,omitempty"`
	// IntervalSeconds is the mean time between a service's deployments.
	// Default 30.
	IntervalSeconds float64 `json:"intervalSeconds,omitempty"`
	// TasksPerDeployment is how many tasks each deployment starts. Default 5.
	TasksPerDeployment int `json:"tasksPerDeployment,omitempty"`
	// RetrySeconds is how soon a throttled deployment retries. Default 10.
	RetrySeconds float64 `json:"retrySeconds,omitempty"`
	// ChargeRunTaskAPI makes deployments draw from the RunTask API request
	// buckets (ecs:RunTask, ecs:FargateRunTask) as if the scheduler called
	// RunTask. Default false: AWS documentation ("Request throttling for the
	// Amazon ECS API") charges those buckets for API requests from
	// applications, tools and the console; the service scheduler's
	// launches are not such requests, and only the Fargate task launch
	// rate ("AWS Fargate throttling quotas") counts every task.
	ChargeRunTaskAPI bool `json:"chargeRunTaskApi,omitempty"`
}

func (c Cotenants) withDefaults() Cotenants {
	if c.IntervalSeconds == 0 {
		c.IntervalSeconds = 30
	}
	if c.TasksPerDeployment == 0 {
		c.TasksPerDeployment = 5
	}
	if c.RetrySeconds == 0 {
		c.RetrySeconds = 10
	}
	return c
}

func (c Cotenants) validate() error {
	if c.Services < 0 || c.Services > 1000 {
		return fmt.Errorf("sim: Cotenants.Services must be in [0, 1000], got %d", c.Services)
	}
	if c.IntervalSeconds <= 0 || c.RetrySeconds <= 0 || c.TasksPerDeployment < 1 {
		return fmt.Errorf("sim: Cotenants: IntervalSeconds and RetrySeconds must be > 0 and TasksPerDeployment ≥ 1")
	}
	return nil
}

type cotenantService struct {
	name, arn  string
	cloudMap   bool
	generation int // bumped when the co-tenants are reconfigured
}

type cotenantState struct {
	services   []*cotenantService
	clusterArn string
	generation int
}

// initCotenants creates the services and schedules their first deployments.
// Callers hold s.mu (or own s exclusively).
func (s *Sim) initCotenants() {
	s.cot.generation++
	s.cot.services = nil
	s.cot.clusterArn = fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/cotenants", s.cfg.Region, s.cfg.Account)
	for i := 0; i < s.cfg.Cotenants.Services; i++ {
		name := fmt.Sprintf("cotenant-%02d", i+1)
		svc := &cotenantService{name: name, cloudMap: i%2 == 1, generation: s.cot.generation,
			arn: fmt.Sprintf("arn:aws:ecs:%s:%s:service/cotenants/%s", s.cfg.Region, s.cfg.Account, name)}
		s.cot.services = append(s.cot.services, svc)
		s.scheduleDeployment(s.now, svc)
	}
}

func (s *Sim) scheduleDeployment(from time.Time, svc *cotenantService) {
	gap := -math.Log(1-s.faults.events.Float64()) * s.cfg.Cotenants.IntervalSeconds
	s.sched.at(from.Add(secs(gap)), func(at time.Time) { s.deploy(at, svc) })
}

// deploy runs one deployment of a co-tenant service.
func (s *Sim) deploy(at time.Time, svc *cotenantService) {
	if svc.generation != s.cot.generation {
		return // reconfigured away
	}
	n := float64(s.cfg.Cotenants.TasksPerDeployment)
	calls := math.Ceil(n / 10)
	retry := func(event string) {
		s.stats.serviceActions[event]++
		s.emit(s.envelope(at, "ECS Service Action", []string{svc.arn}, map[string]string{
			"eventType": "ERROR", "eventName": event, "clusterArn": s.cot.clusterArn,
			"createdAt": at.UTC().Format("2006-01-02T15:04:05.000Z"),
		}))
		s.sched.at(at.Add(secs(s.cfg.Cotenants.RetrySeconds)), func(at time.Time) { s.deploy(at, svc) })
	}
	takes := []take{{BucketFargateTasks, n}, {BucketHiddenENI, n}, {BucketHiddenLoadBalancer, n}}
	if s.cfg.Cotenants.ChargeRunTaskAPI {
		takes = append(takes, take{BucketRunTask, calls}, take{BucketFargateRunTask, calls})
	}
	if _, ok := s.takeAll(at, takes...); !ok {
		retry(EventECSOperationThrottled)
		return
	}
	if svc.cloudMap {
		if _, ok := s.takeAll(at, take{BucketHiddenServiceDiscov, n}); !ok {
			retry(EventServiceDiscoveryOperationThrottled)
			return
		}
	}
	s.stats.cotenantDeploys++
	s.scheduleDeployment(at, svc)
}

// SetCotenants replaces the co-tenant services at run time.
func (s *Sim) SetCotenants(c Cotenants) error {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick()
	s.cfg.Cotenants = c
	s.initCotenants()
	return nil
}

// SetBucket changes one bucket's burst and rate from now on.
func (s *Sim) SetBucket(name string, cfg Bucket) error {
	if cfg.Burst < 0 || cfg.Rate < 0 {
		return fmt.Errorf("sim: bucket %q: burst and rate must be ≥ 0", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	b := s.buckets[name]
	if b == nil {
		return fmt.Errorf("sim: unknown bucket %q", name)
	}
	s.cfg.Buckets[name] = cfg
	b.reconfigure(now, cfg, b.storm)
	return nil
}

// SetCapacity replaces the account's capacity limits from now on (running
// work is not stopped). Zero ProvisioningPerCluster and Fargate vCPU
// limits mean the defaults.
func (s *Sim) SetCapacity(c Capacity) {
	c = c.withDefaults()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick()
	s.cfg.Capacity = c
}
