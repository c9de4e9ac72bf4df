package sim

import (
	"slices"
	"strconv"
)

func (s *Sim) ecsDescribeTasks(body []byte) (any, *apiError) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
		Include []string `json:"include"`
	}
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	if len(in.Tasks) == 0 {
		return nil, errorf(400, "InvalidParameterException", "tasks: Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, errorf(400, "InvalidParameterException", "tasks: at most 100 tasks can be described at once, got %d.", len(in.Tasks))
	}
	cluster := nameFromARN(in.Cluster, "cluster/", "default")
	tags := slices.Contains(in.Include, "TAGS")
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	if _, ok := s.takeAll(now, take{BucketDescribeTasks, 1}); !ok {
		s.stats.throttled["ecs:DescribeTasks"]++
		return nil, ecsThrottle()
	}
	if e := s.strictCluster(cluster); e != nil {
		return nil, e
	}
	out := struct {
		Tasks    []taskDoc    `json:"tasks"`
		Failures []ecsFailure `json:"failures"`
	}{Tasks: []taskDoc{}, Failures: []ecsFailure{}}
	for _, ref := range in.Tasks {
		t := s.ecs.tasks[nameFromARN(ref, "task/"+cluster+"/", ref)]
		if t == nil || t.cluster.name != cluster {
			out.Failures = append(out.Failures, ecsFailure{Arn: ref, Reason: "MISSING"})
			continue
		}
		d := t.doc(false)
		if !tags {
			d.Tags = nil
		}
		out.Tasks = append(out.Tasks, d)
	}
	return out, nil
}

func (s *Sim) strictCluster(cluster string) *apiError {
	if s.cfg.Strict && len(s.cfg.Resources.Clusters) > 0 && !slices.Contains(s.cfg.Resources.Clusters, cluster) {
		return errorf(400, "ClusterNotFoundException", "Cluster not found.")
	}
	return nil
}

// listTasksInput is ListTasks' request.
type listTasksInput struct {
	Cluster           string `json:"cluster"`
	Family            string `json:"family"`
	StartedBy         string `json:"startedBy"`
	ServiceName       string `json:"serviceName"`
	ContainerInstance string `json:"containerInstance"`
	DesiredStatus     string `json:"desiredStatus"`
	LaunchType        string `json:"launchType"`
	MaxResults        *int   `json:"maxResults"`
	NextToken         string `json:"nextToken"`
}

// validate checks paging and ECS's rule that startedBy is the only filter
// besides the cluster and the desired status (Amazon ECS API Reference:
// "ListTasks"). It returns the page size and the start index.
func (in *listTasksInput) validate() (limit, start int, e *apiError) {
	limit = 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return 0, 0, errorf(400, "InvalidParameterException", "maxResults: must be between 1 and 100, got %d.", *in.MaxResults)
		}
		limit = *in.MaxResults
	}
	if in.StartedBy != "" && (in.Family != "" || in.ServiceName != "" || in.ContainerInstance != "" || in.LaunchType != "") {
		return 0, 0, errorf(400, "InvalidParameterException", "startedBy cannot be combined with family, serviceName, containerInstance or launchType.")
	}
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 {
			return 0, 0, errorf(400, "InvalidParameterException", "nextToken: Invalid token %q.", in.NextToken)
		}
		start = n
	}
	if in.DesiredStatus == "" {
		in.DesiredStatus = StatusRunning
	}
	return limit, start, nil
}

// matches reports whether t passes the request's filters.
func (in *listTasksInput) matches(t *task) bool {
	return t.desiredStatus == in.DesiredStatus && (in.StartedBy == "" || t.startedBy == in.StartedBy) &&
		(in.Family == "" || t.container == in.Family) && (in.LaunchType == "" || t.kind.launchType == in.LaunchType) &&
		(in.ServiceName == "" && in.ContainerInstance == "")
}

func (s *Sim) ecsListTasks(body []byte) (any, *apiError) {
	var in listTasksInput
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	limit, start, e := in.validate()
	if e != nil {
		return nil, e
	}
	cluster := nameFromARN(in.Cluster, "cluster/", "default")
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	if _, ok := s.takeAll(now, take{BucketDescribeTasks, 1}); !ok {
		s.stats.throttled["ecs:ListTasks"]++
		return nil, ecsThrottle()
	}
	if e := s.strictCluster(cluster); e != nil {
		return nil, e
	}
	out := struct {
		TaskArns  []string `json:"taskArns"`
		NextToken string   `json:"nextToken,omitempty"`
	}{TaskArns: []string{}}
	cs := s.ecs.clusters[cluster]
	if cs == nil {
		return out, nil
	}
	for i := start; i < len(cs.tasks); i++ {
		t := cs.tasks[i]
		if !in.matches(t) || !s.listed(t, now) {
			continue
		}
		if len(out.TaskArns) == limit {
			out.NextToken = strconv.Itoa(i)
			break
		}
		out.TaskArns = append(out.TaskArns, t.arn)
	}
	return out, nil
}

func (s *Sim) ecsStopTask(body []byte) (any, *apiError) {
	var in struct {
		Cluster string `json:"cluster"`
		Task    string `json:"task"`
		Reason  string `json:"reason"`
	}
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	if in.Task == "" {
		return nil, errorf(400, "InvalidParameterException", "task: Task can not be blank.")
	}
	if len(in.Reason) > 255 {
		return nil, errorf(400, "InvalidParameterException", "reason: must be at most 255 characters.")
	}
	cluster := nameFromARN(in.Cluster, "cluster/", "default")
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	if _, ok := s.takeAll(now, take{BucketRunTask, 1}); !ok {
		s.stats.throttled["ecs:StopTask"]++
		return nil, ecsThrottle()
	}
	if e := s.strictCluster(cluster); e != nil {
		return nil, e
	}
	t := s.ecs.tasks[nameFromARN(in.Task, "task/"+cluster+"/", in.Task)]
	if t == nil || t.cluster.name != cluster {
		return nil, errorf(400, "InvalidParameterException", "The referenced task was not found.")
	}
	reason := in.Reason
	if reason == "" {
		reason = "Task stopped by user"
	}
	if !s.cfg.Runs.NoStopExitCode && t.exitCode == nil && !t.startedAt.IsZero() {
		t.killOnStop = true
	}
	s.beginStop(now, t, StopUserInitiated, reason)
	return struct {
		Task taskDoc `json:"task"`
	}{t.doc(false)}, nil
}

func (s *Sim) ecsDescribeClusters(body []byte) (any, *apiError) {
	var in struct {
		Clusters []string `json:"clusters"`
	}
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	if len(in.Clusters) == 0 {
		in.Clusters = []string{"default"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	if _, ok := s.takeAll(now, take{BucketClusterRead, 1}); !ok {
		s.stats.throttled["ecs:DescribeClusters"]++
		return nil, ecsThrottle()
	}
	type clusterDoc struct {
		ClusterArn        string `json:"clusterArn"`
		ClusterName       string `json:"clusterName"`
		Status            string `json:"status"`
		RunningTasksCount int    `json:"runningTasksCount"`
		PendingTasksCount int    `json:"pendingTasksCount"`
	}
	out := struct {
		Clusters []clusterDoc `json:"clusters"`
		Failures []ecsFailure `json:"failures"`
	}{Clusters: []clusterDoc{}, Failures: []ecsFailure{}}
	for _, ref := range in.Clusters {
		name := nameFromARN(ref, "cluster/", "default")
		if s.strictCluster(name) != nil {
			out.Failures = append(out.Failures, ecsFailure{Arn: ref, Reason: "MISSING"})
			continue
		}
		cs := s.ecs.cluster(s, name)
		d := clusterDoc{ClusterArn: cs.arn, ClusterName: name, Status: "ACTIVE"}
		for _, t := range cs.tasks {
			switch t.lastStatus {
			case StatusRunning:
				d.RunningTasksCount++
			case StatusPending, StatusProvisioning:
				d.PendingTasksCount++
			}
		}
		out.Clusters = append(out.Clusters, d)
	}
	return out, nil
}

func (s *Sim) ecsDescribeTaskDefinition(body []byte) (any, *apiError) {
	var in struct {
		TaskDefinition string `json:"taskDefinition"`
	}
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	family, rev := taskDefParts(in.TaskDefinition)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	if _, ok := s.takeAll(now, take{BucketTaskDefinitionRead, 1}); !ok {
		s.stats.throttled["ecs:DescribeTaskDefinition"]++
		return nil, ecsThrottle()
	}
	if family == "" {
		return nil, errorf(400, "ClientException", "Unable to describe task definition.")
	}
	if s.cfg.Strict && len(s.cfg.Resources.TaskDefinitions) > 0 &&
		!slices.Contains(s.cfg.Resources.TaskDefinitions, family+":"+rev) && !slices.Contains(s.cfg.Resources.TaskDefinitions, family) {
		return nil, errorf(400, "ClientException", "Unable to describe task definition.")
	}
	r, _ := strconv.Atoi(rev)
	type container struct {
		Name             string         `json:"name"`
		Image            string         `json:"image"`
		Essential        bool           `json:"essential"`
		LogConfiguration map[string]any `json:"logConfiguration,omitempty"`
	}
	c := container{Name: family, Image: "public.ecr.aws/docker/library/busybox:latest", Essential: true}
	if !s.cfg.NoAWSLogs {
		// Amazon ECS Developer Guide: "Send Amazon ECS logs to CloudWatch".
		c.LogConfiguration = map[string]any{"logDriver": "awslogs", "options": map[string]string{
			"awslogs-group": "/ecs/" + family, "awslogs-region": s.cfg.Region, "awslogs-stream-prefix": AWSLogsStreamPrefix}}
	}
	return map[string]any{"taskDefinition": map[string]any{
		"taskDefinitionArn":       "arn:aws:ecs:" + s.cfg.Region + ":" + s.cfg.Account + ":task-definition/" + family + ":" + rev,
		"family":                  family,
		"revision":                r,
		"status":                  "ACTIVE",
		"networkMode":             "awsvpc",
		"requiresCompatibilities": []string{"EC2", "FARGATE"},
		"cpu":                     "256",
		"memory":                  "512",
		"containerDefinitions":    []container{c},
	}}, nil
}
