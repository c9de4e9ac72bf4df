package sim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// ECS task lastStatus / desiredStatus values.
const (
	StatusProvisioning = "PROVISIONING"
	StatusPending      = "PENDING"
	StatusRunning      = "RUNNING"
	StatusStopped      = "STOPPED"
)

// ECS stop codes the simulator sets.
const (
	StopTaskFailedToStart      = "TaskFailedToStart"
	StopEssentialContainerExit = "EssentialContainerExited"
	StopUserInitiated          = "UserInitiated"
)

// task is one ECS task. Guarded by the Sim's mutex.
type task struct {
	arn, id          string
	cluster          *clusterState
	taskDefArn       string
	container        string // the one container's name (the family)
	kind             launchKind
	subnet, az       string
	startedBy, group string
	tags             []ecsTag
	clientToken      string
	cpu, memory      string

	lastStatus, desiredStatus string
	createdAt, pullStartedAt, pullStoppedAt, startedAt,
	stoppingAt, stoppedAt time.Time
	stopCode, stoppedReason string
	containerReason         string
	exitCode                *int
	version                 int64
	eniDeadline             time.Time
	entry                   int       // index in the ledger
	listedFrom              time.Time // ListTasks shows the task from then
	cpuUnits                int       // Fargate vCPU quota use, in cpu units
	overrides               json.RawMessage
	// killOnStop: StopTask stopped the task after it started; its
	// container exits StopTaskExitCode when it reaches STOPPED.
	killOnStop bool
}

type clusterState struct {
	name, arn string
	prefix    string  // "arn:aws:ecs:<region>:<account>:"
	tasks     []*task // creation order, for ListTasks
	active    int     // EC2-launch-type tasks not yet STOPPED (capacity)
	// provisioning counts tasks in PROVISIONING (quota
	// Capacity.ProvisioningPerCluster).
	provisioning int
}

// ecsState is the ECS side of the account. Guarded by the Sim's mutex.
type ecsState struct {
	tasks           map[string]*task // by ARN and by ID
	clusters        map[string]*clusterState
	tokens          map[string]*ecsIdem // cluster + "\x00" + clientToken
	fargateBySubnet map[string]int      // Fargate tasks not yet STOPPED per subnet
	// cpu units of Fargate On-Demand and Spot tasks not yet STOPPED
	// (Capacity.FargateVCPULimit, FargateSpotVCPULimit)
	fargateCPU, fargateSpotCPU int
}

func (e *ecsState) init() {
	e.tasks = map[string]*task{}
	e.clusters = map[string]*clusterState{}
	e.tokens = map[string]*ecsIdem{}
	e.fargateBySubnet = map[string]int{}
}

func (e *ecsState) cluster(s *Sim, name string) *clusterState {
	cs := e.clusters[name]
	if cs == nil {
		prefix := fmt.Sprintf("arn:aws:ecs:%s:%s:", s.cfg.Region, s.cfg.Account)
		cs = &clusterState{name: name, prefix: prefix, arn: prefix + "cluster/" + name}
		e.clusters[name] = cs
	}
	return cs
}

// azOf returns the availability zone of a subnet: the configured one, or a
// stable guess spread over the region's a, b and c zones.
func (s *Sim) azOf(subnet string) string {
	if az, ok := s.cfg.Resources.Subnets[subnet]; ok && az != "" {
		return az
	}
	h := uint32(2166136261)
	for i := 0; i < len(subnet); i++ {
		h = (h ^ uint32(subnet[i])) * 16777619
	}
	return s.cfg.Region + string(rune('a'+h%3))
}

// newTask creates a task, records it in the ledger, emits its first state
// change and schedules the rest of its life. Callers hold s.mu.
func (s *Sim) newTask(now time.Time, cs *clusterState, in *runTaskInput, kind launchKind, family, tdArn, subnet string, cpu int) *task {
	id := fmt.Sprintf("%016x%016x", s.nextID(), s.nextID())
	if in.overrides == nil {
		in.overrides, in.arrayIndex = taskOverrides(in.Overrides), arrayIndex(in.Overrides)
	}
	t := &task{
		arn:         fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", s.cfg.Region, s.cfg.Account, cs.name, id),
		id:          id,
		cluster:     cs,
		taskDefArn:  tdArn,
		container:   family,
		kind:        kind,
		subnet:      subnet,
		startedBy:   in.StartedBy,
		group:       in.Group,
		tags:        in.Tags,
		clientToken: in.ClientToken,
		cpu:         strconv.Itoa(cpu),
		cpuUnits:    cpu,
		memory:      "512",
		createdAt:   now,
		version:     1,
		overrides:   in.overrides,

		desiredStatus: StatusRunning,
	}
	if t.group == "" {
		t.group = "family:" + family
	}
	t.listedFrom = now.Add(s.listDelay(id))
	if subnet != "" {
		t.az = s.azOf(subnet)
	} else {
		t.az = s.cfg.Region + "a"
	}
	s.ecs.tasks[t.arn] = t
	s.ecs.tasks[id] = t
	cs.tasks = append(cs.tasks, t)
	if kind.fargate {
		s.ecs.fargateBySubnet[subnet]++
		s.useFargateVCPU(t, 1)
	} else {
		cs.active++
	}
	s.stats.tasksLaunched++
	tags := make(map[string]string, len(in.Tags))
	for _, tg := range in.Tags {
		tags[tg.Key] = tg.Value
	}
	t.entry = s.ledger.add(LedgerEntry{
		Kind: KindTask, ID: t.arn, Cluster: cs.name, ClientToken: in.ClientToken,
		StartedBy: in.StartedBy, Group: t.group, Tags: tags, LaunchedAt: now,
		ArrayIndex: in.arrayIndex,
	})
	s.startLifecycle(now, t)
	return t
}

// release frees the capacity a task held, once, when it reaches STOPPED.
func (s *Sim) release(t *task) {
	if t.kind.fargate {
		s.ecs.fargateBySubnet[t.subnet]--
		s.useFargateVCPU(t, -1)
	} else {
		t.cluster.active--
	}
}

// jtime renders a time as ECS does: epoch seconds (a JSON number) in API
// responses, ISO 8601 with milliseconds in EventBridge events; nil (omitted)
// for the zero time. Plain values, not a json.Marshaler, keep encoding cheap.
func jtime(t time.Time, iso bool) any {
	if t.IsZero() {
		return nil
	}
	if iso {
		return t.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
}

type containerDoc struct {
	ContainerArn string `json:"containerArn"`
	TaskArn      string `json:"taskArn"`
	Name         string `json:"name"`
	LastStatus   string `json:"lastStatus"`
	ExitCode     *int   `json:"exitCode,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

type attachmentDoc struct {
	ID      string      `json:"id"`
	Type    string      `json:"type"`
	Status  string      `json:"status"`
	Details []nameValue `json:"details"`
}

type nameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// taskDoc is the Task shape of DescribeTasks and RunTask, and the detail of
// an "ECS Task State Change" event (with ISO times and updatedAt).
type taskDoc struct {
	Attachments          []attachmentDoc `json:"attachments,omitempty"`
	AvailabilityZone     string          `json:"availabilityZone,omitempty"`
	CapacityProviderName string          `json:"capacityProviderName,omitempty"`
	ClusterArn           string          `json:"clusterArn"`
	Containers           []containerDoc  `json:"containers"`
	CPU                  string          `json:"cpu,omitempty"`
	CreatedAt            any             `json:"createdAt,omitempty"`
	DesiredStatus        string          `json:"desiredStatus"`
	ExecutionStoppedAt   any             `json:"executionStoppedAt,omitempty"`
	Group                string          `json:"group,omitempty"`
	LastStatus           string          `json:"lastStatus"`
	LaunchType           string          `json:"launchType"`
	Memory               string          `json:"memory,omitempty"`
	Overrides            json.RawMessage `json:"overrides"`
	PlatformVersion      string          `json:"platformVersion,omitempty"`
	PullStartedAt        any             `json:"pullStartedAt,omitempty"`
	PullStoppedAt        any             `json:"pullStoppedAt,omitempty"`
	StartedAt            any             `json:"startedAt,omitempty"`
	StartedBy            string          `json:"startedBy,omitempty"`
	StopCode             string          `json:"stopCode,omitempty"`
	StoppedAt            any             `json:"stoppedAt,omitempty"`
	StoppedReason        string          `json:"stoppedReason,omitempty"`
	StoppingAt           any             `json:"stoppingAt,omitempty"`
	Tags                 []ecsTag        `json:"tags,omitempty"`
	TaskArn              string          `json:"taskArn"`
	TaskDefinitionArn    string          `json:"taskDefinitionArn"`
	UpdatedAt            any             `json:"updatedAt,omitempty"`
	Version              int64           `json:"version"`
}

// doc renders the task; event=true gives the event detail form.
func (t *task) doc(event bool) taskDoc {
	at := func(x time.Time) any { return jtime(x, event) }
	d := taskDoc{
		AvailabilityZone:     t.az,
		CapacityProviderName: t.kind.provider,
		ClusterArn:           t.cluster.arn,
		Containers: []containerDoc{{
			ContainerArn: t.cluster.prefix + "container/" + t.cluster.name + "/" + t.id + "/" + t.container,
			TaskArn:      t.arn, Name: t.container, LastStatus: containerStatus(t.lastStatus),
			ExitCode: t.exitCode, Reason: t.containerReason,
		}},
		CPU: t.cpu, CreatedAt: at(t.createdAt), DesiredStatus: t.desiredStatus,
		Group: t.group, LastStatus: t.lastStatus, LaunchType: t.kind.launchType, Memory: t.memory,
		PullStartedAt: at(t.pullStartedAt), PullStoppedAt: at(t.pullStoppedAt), StartedAt: at(t.startedAt),
		StartedBy: t.startedBy, StopCode: t.stopCode, StoppedAt: at(t.stoppedAt), StoppedReason: t.stoppedReason,
		StoppingAt: at(t.stoppingAt), TaskArn: t.arn, TaskDefinitionArn: t.taskDefArn, Version: t.version,
	}
	d.Overrides = t.overrides
	if !t.stoppedAt.IsZero() {
		d.ExecutionStoppedAt = at(t.stoppedAt)
	}
	if t.kind.fargate {
		d.PlatformVersion = "1.4.0"
	}
	if t.kind.awsvpc {
		d.Attachments = []attachmentDoc{{ID: t.id[:8] + "-eni", Type: "ElasticNetworkInterface",
			Status: eniStatus(t.lastStatus), Details: []nameValue{{"subnetId", t.subnet}}}}
	}
	if !event {
		d.Tags = t.tags
	}
	return d
}

func containerStatus(task string) string {
	if task == StatusProvisioning {
		return StatusPending
	}
	return task
}

func eniStatus(task string) string {
	switch task {
	case StatusProvisioning:
		return "PRECREATED"
	case StatusStopped:
		return "DELETED"
	}
	return "ATTACHED"
}
