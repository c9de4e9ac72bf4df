package sim

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

type ecsTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type capacityProviderItem struct {
	CapacityProvider string `json:"capacityProvider"`
	Weight           int    `json:"weight"`
	Base             int    `json:"base"`
}

type runTaskInput struct {
	Cluster                  string                 `json:"cluster"`
	TaskDefinition           string                 `json:"taskDefinition"`
	Count                    *int                   `json:"count"`
	LaunchType               string                 `json:"launchType"`
	CapacityProviderStrategy []capacityProviderItem `json:"capacityProviderStrategy"`
	NetworkConfiguration     *struct {
		AwsvpcConfiguration *struct {
			Subnets        []string `json:"subnets"`
			SecurityGroups []string `json:"securityGroups"`
			AssignPublicIP string   `json:"assignPublicIp"`
		} `json:"awsvpcConfiguration"`
	} `json:"networkConfiguration"`
	StartedBy            string            `json:"startedBy"`
	Group                string            `json:"group"`
	Tags                 []ecsTag          `json:"tags"`
	ClientToken          string            `json:"clientToken"`
	Overrides            json.RawMessage   `json:"overrides"`
	PlacementConstraints []json.RawMessage `json:"placementConstraints"`
	PlacementStrategy    []json.RawMessage `json:"placementStrategy"`
	PlatformVersion      string            `json:"platformVersion"`

	// parsed once per call for all its tasks (see taskOverrides, arrayIndex)
	overrides  json.RawMessage
	arrayIndex *int
}

func (in *runTaskInput) subnets() []string {
	if in.NetworkConfiguration == nil || in.NetworkConfiguration.AwsvpcConfiguration == nil {
		return nil
	}
	return in.NetworkConfiguration.AwsvpcConfiguration.Subnets
}

// ecsFailure is RunTask's and DescribeTasks' failures[] entry.
type ecsFailure struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

type runTaskOutput struct {
	Tasks    []taskDoc    `json:"tasks"`
	Failures []ecsFailure `json:"failures"`
}

// ecsIdem is what a RunTask client token is bound to, per cluster, while
// ecsTokenLive holds.
type ecsIdem struct {
	params   [32]byte
	tasks    []*task
	failures []ecsFailure
	issued   time.Time
}

// launchKind is how a RunTask call's tasks are placed.
type launchKind struct {
	launchType string // FARGATE or EC2 (or EXTERNAL …)
	provider   string // capacity provider name, if a strategy was given
	fargate    bool
	spot       bool
	awsvpc     bool
}

func kindOf(in *runTaskInput) launchKind {
	k := launchKind{launchType: in.LaunchType}
	if len(in.CapacityProviderStrategy) > 0 {
		best := in.CapacityProviderStrategy[0]
		for _, c := range in.CapacityProviderStrategy[1:] {
			if c.Weight > best.Weight || c.Base > best.Base {
				best = c
			}
		}
		k.provider = best.CapacityProvider
		switch best.CapacityProvider {
		case "FARGATE":
			k.launchType = "FARGATE"
		case "FARGATE_SPOT":
			k.launchType, k.spot = "FARGATE", true
		default:
			k.launchType = "EC2"
		}
	}
	if k.launchType == "" {
		k.launchType = "EC2"
	}
	k.fargate = k.launchType == "FARGATE"
	k.awsvpc = k.fargate || len(in.subnets()) > 0
	return k
}

// paramsHash identifies a request's parameters other than the client token,
// for idempotency comparisons: the decoded input re-encoded without it, so
// field order and whitespace do not matter.
func (in runTaskInput) paramsHash() [32]byte {
	in.ClientToken = ""
	b, _ := json.Marshal(in)
	return sha256.Sum256(b)
}

func (s *Sim) ecsRunTask(body []byte) (any, *apiError) {
	var in runTaskInput
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	if e := validateRunTask(&in); e != nil {
		return nil, e
	}
	count := 1
	if in.Count != nil {
		count = *in.Count
	}
	kind := kindOf(&in)
	cluster := nameFromARN(in.Cluster, "cluster/", "default")
	ph := in.paramsHash()

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()

	var prior *ecsIdem
	key := cluster + "\x00" + in.ClientToken
	if in.ClientToken != "" {
		if p := s.ecs.tokens[key]; p != nil && s.ecsTokenLive(p, now) {
			prior = p
		}
	}
	takes := []take{{BucketRunTask, 1}}
	if kind.fargate {
		takes = append(takes, take{BucketFargateRunTask, 1})
		if prior == nil {
			tb := BucketFargateTasks
			if kind.spot {
				tb = BucketFargateSpotTasks
			}
			takes = append(takes, take{tb, float64(count)})
		}
	}
	if _, ok := s.takeAll(now, takes...); !ok {
		s.stats.throttled["ecs:RunTask"]++
		return nil, ecsThrottle()
	}
	if prior != nil {
		if prior.params != ph {
			arns := make([]string, len(prior.tasks))
			for i, t := range prior.tasks {
				arns[i] = t.arn
			}
			e := errorf(400, "ConflictException", "The specified client token %s has already been used with different parameters.", in.ClientToken)
			e.resourceIDs = arns
			return nil, e
		}
		out := runTaskOutput{Tasks: make([]taskDoc, len(prior.tasks)), Failures: prior.failures}
		for i, t := range prior.tasks {
			out.Tasks[i] = t.doc(false)
		}
		if out.Failures == nil {
			out.Failures = []ecsFailure{}
		}
		return out, nil
	}
	if e := s.checkECSResources(cluster, &in); e != nil {
		return nil, e
	}
	if q := s.cfg.Capacity.ProvisioningPerCluster; kind.awsvpc && q > 0 {
		if cs := s.ecs.clusters[cluster]; cs != nil && cs.provisioning+count > q {
			return nil, errorf(400, "ClientException", "Tasks provisioning capacity limit exceeded.")
		}
	}
	if kind.awsvpc {
		// ECS looks the subnets up in EC2 on the account's behalf; when that
		// hidden call is throttled, RunTask wraps it.
		if _, ok := s.takeAll(now, take{BucketHiddenSubnetLookup, 1}); !ok {
			s.stats.wrappedThrottles++
			return nil, errorf(400, "InvalidParameterException",
				"Error retrieving subnet information for [%s]: Rate exceeded (ErrorCode: Throttling)", strings.Join(in.subnets(), ", "))
		}
	}
	tasks, failures := s.launchTasks(now, cluster, &in, kind, count)
	if in.ClientToken != "" && s.bindsToken(tasks) {
		s.ecs.tokens[key] = &ecsIdem{params: ph, tasks: tasks, failures: failures, issued: now}
	}
	out := runTaskOutput{Tasks: make([]taskDoc, len(tasks)), Failures: failures}
	for i, t := range tasks {
		out.Tasks[i] = t.doc(false)
	}
	if out.Failures == nil {
		out.Failures = []ecsFailure{}
	}
	return out, nil
}

// checkECSResources rejects, in strict mode, what the account does not have.
func (s *Sim) checkECSResources(cluster string, in *runTaskInput) *apiError {
	if !s.cfg.Strict {
		return nil
	}
	r := s.cfg.Resources
	if len(r.Clusters) > 0 && !slices.Contains(r.Clusters, cluster) {
		return errorf(400, "ClusterNotFoundException", "Cluster not found.")
	}
	if len(r.TaskDefinitions) > 0 {
		family, rev := taskDefParts(in.TaskDefinition)
		if !slices.Contains(r.TaskDefinitions, family+":"+rev) && !slices.Contains(r.TaskDefinitions, family) {
			return errorf(400, "ClientException", "TaskDefinition not found.")
		}
	}
	if len(r.Subnets) > 0 {
		for _, sn := range in.subnets() {
			if _, ok := r.Subnets[sn]; !ok {
				return errorf(400, "InvalidParameterException",
					"Error retrieving subnet information for [%s]: The subnet ID '%s' does not exist (ErrorCode: InvalidSubnetID.NotFound)", sn, sn)
			}
		}
	}
	return nil
}

// launchTasks places count tasks, each succeeding or failing on capacity.
// Callers hold s.mu.
func (s *Sim) launchTasks(now time.Time, cluster string, in *runTaskInput, kind launchKind, count int) ([]*task, []ecsFailure) {
	cs := s.ecs.cluster(s, cluster)
	family, rev := taskDefParts(in.TaskDefinition)
	tdArn := in.TaskDefinition
	if !strings.HasPrefix(tdArn, "arn:") {
		tdArn = fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%s", s.cfg.Region, s.cfg.Account, family, rev)
	}
	var tasks []*task
	var failures []ecsFailure
	subnets := in.subnets()
	cpu := taskCPU(in.Overrides)
	for i := 0; i < count; i++ {
		if kind.fargate && !s.fargateVCPURoom(kind, cpu) {
			failures = append(failures, ecsFailure{Reason: FargateVCPULimitReason})
			continue
		}
		subnet := ""
		if kind.awsvpc {
			subnet = s.pickSubnet(kind, subnets, i)
			if subnet == "" {
				failures = append(failures, ecsFailure{Arn: cs.arn,
					Reason: "Capacity is unavailable at this time. Please try again later or in a different availability zone"})
				continue
			}
		}
		if !kind.fargate {
			if c, ok := s.cfg.Capacity.Clusters[cluster]; ok && c.MaxTasks > 0 && cs.active >= c.MaxTasks {
				reason := c.Reason
				if reason == "" {
					reason = "RESOURCE:MEMORY"
				}
				failures = append(failures, ecsFailure{Arn: fmt.Sprintf("arn:aws:ecs:%s:%s:container-instance/%s/%016x", s.cfg.Region, s.cfg.Account, cluster, s.nextID()), Reason: reason})
				continue
			}
		}
		t := s.newTask(now, cs, in, kind, family, tdArn, subnet, cpu)
		tasks = append(tasks, t)
	}
	return tasks, failures
}

// pickSubnet spreads tasks over the request's subnets, skipping those whose
// Fargate capacity is used up. It returns "" when none has room.
func (s *Sim) pickSubnet(kind launchKind, subnets []string, i int) string {
	for j := range subnets {
		sn := subnets[(i+j)%len(subnets)]
		if !kind.fargate {
			return sn
		}
		limit, ok := s.cfg.Capacity.FargateSubnets[sn]
		if !ok || limit <= 0 || s.ecs.fargateBySubnet[sn] < limit {
			return sn
		}
	}
	return ""
}

// nameFromARN returns the resource name of an ARN or name (the part after
// marker), or def when empty.
func nameFromARN(v, marker, def string) string {
	if v == "" {
		return def
	}
	if i := strings.Index(v, marker); strings.HasPrefix(v, "arn:") && i >= 0 {
		return v[i+len(marker):]
	}
	return v
}

// taskDefParts returns family and revision of "family", "family:rev" or an ARN.
func taskDefParts(td string) (family, rev string) {
	td = nameFromARN(td, "task-definition/", "")
	family, rev, ok := strings.Cut(td, ":")
	if !ok || rev == "" {
		rev = "1"
	}
	return family, rev
}
