package launch

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
)

// Limits of per-task items.
const (
	// MaxItems is AWS Batch's largest array job; it also keeps an items
	// request (one chunk per task) within the chunk count of the largest
	// version-1 request, so the plan's index list stays small.
	MaxItems = 10000
	// MaxOverridesBytes is RunTask's limit on the overrides of one call:
	// every item, and every item merged with ecs.overrides and the
	// injected variables, must fit.
	MaxOverridesBytes = 8192
	// MaxInlineItemsBytes bounds ecs.items as JSON. The request travels as
	// a Step Functions execution input (256 KB payload) and is stored in
	// one DynamoDB item (400 KB): 200 KB leaves room for the rest of the
	// request and its record.
	MaxInlineItemsBytes = 200 * 1024
)

// Variables every task of an items request gets in each named container.
const (
	EnvRequestID  = "TH_REQUEST_ID"
	EnvArrayIndex = "TH_ARRAY_INDEX"
)

// HasItems reports whether the ECS part carries per-task input (inline or
// in S3): each task then gets its own overrides, one RunTask call per task.
func (s *ECSSpec) HasItems() bool {
	return s != nil && (s.Items != nil || s.ItemsFrom != nil)
}

// taskCount is the number of tasks: Count, or the number of inline items
// when Count is absent.
func (s *ECSSpec) taskCount() int {
	if s.Count == 0 && s.Items != nil {
		return len(s.Items)
	}
	return s.Count
}

// itemProblems checks ecs.items / ecs.itemsFrom / ecs.itemContainer.
func (s *ECSSpec) itemProblems(requestID string) []string {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	if s.Items != nil && s.ItemsFrom != nil {
		add("ecs.items: must not be set with ecs.itemsFrom")
	}
	if s.ItemsFrom != nil {
		p = append(p, s3RefProblems("ecs.itemsFrom", *s.ItemsFrom)...)
		if s.Count == 0 {
			add("ecs.count: required with ecs.itemsFrom (the number of lines of the object)")
		}
	}
	if s.ItemContainer != "" && !s.HasItems() {
		add("ecs.itemContainer: only with ecs.items or ecs.itemsFrom")
	}
	if len(s.ItemContainer) > 255 {
		add("ecs.itemContainer: must be at most 255 characters, got %d", len(s.ItemContainer))
	}
	if s.HasItems() && s.taskCount() > MaxItems {
		add("ecs.count: must be at most %d with items (AWS Batch's largest array), got %d", MaxItems, s.taskCount())
	}
	if s.Items == nil {
		return p
	}
	if len(s.Items) == 0 {
		add("ecs.items: must have 1..%d entries, got 0", MaxItems)
	}
	if s.Count != 0 && s.Count != len(s.Items) {
		add("ecs.count: must equal the number of ecs.items (%d), got %d", len(s.Items), s.Count)
	}
	if b, _ := json.Marshal(s.Items); len(b) > MaxInlineItemsBytes {
		add("ecs.items: must be at most %d bytes as JSON, got %d; put larger arrays in S3 and name them with ecs.itemsFrom", MaxInlineItemsBytes, len(b))
		return p // each item is not checked: the list may be huge
	}
	return append(p, s.eachItemProblems(requestID)...)
}

// eachItemProblems checks every inline item alone and merged.
func (s *ECSSpec) eachItemProblems(requestID string) []string {
	var p []string
	var unnamed []int
	for i, it := range s.Items {
		field := "ecs.items[" + strconv.Itoa(i) + "]"
		if b, _ := json.Marshal(it); len(b) > MaxOverridesBytes {
			p = append(p, fmt.Sprintf("%s: must be at most %d bytes as JSON, got %d", field, MaxOverridesBytes, len(b)))
			continue
		}
		for j, c := range it.ContainerOverrides {
			if c.Name == "" {
				p = append(p, fmt.Sprintf("%s.containerOverrides[%d].name: required", field, j))
			}
		}
		o := s.itemOverrides(requestID, i, it)
		if len(o.ContainerOverrides) == 0 {
			unnamed = append(unnamed, i)
		}
		if b, _ := json.Marshal(o); len(b) > MaxOverridesBytes {
			p = append(p, fmt.Sprintf("%s: merged with ecs.overrides must be at most %d bytes as JSON, got %d", field, MaxOverridesBytes, len(b)))
		}
	}
	if len(unnamed) > 0 { // one problem: every item may lack it
		p = append(p, fmt.Sprintf("ecs.items[%d]: names no container (%d items do): name one in ecs.itemContainer, ecs.overrides or the item (%s and %s go to the named containers)", unnamed[0], len(unnamed), EnvRequestID, EnvArrayIndex))
	}
	return p
}

// itemsFromProblems: with items in S3 the planner cannot see them, so the
// containers that get the variables must be named in the request.
func (s *ECSSpec) itemsFromProblems() []string {
	if s.ItemsFrom == nil || s.ItemContainer != "" || (s.Overrides != nil && len(s.Overrides.ContainerOverrides) > 0) {
		return nil
	}
	return []string{fmt.Sprintf("ecs.itemContainer: required with ecs.itemsFrom unless ecs.overrides names a container (%s and %s go to the named containers)", EnvRequestID, EnvArrayIndex)}
}

// ItemOverrides returns the overrides of task i of an items request with
// inline items: ecs.overrides merged with ecs.items[i], then the variables.
func (r Request) ItemOverrides(i int) (TaskOverride, error) {
	if r.ECS == nil || i < 0 || i >= len(r.ECS.Items) {
		return TaskOverride{}, fmt.Errorf("items: %d is not an item of request %q", i, r.RequestID)
	}
	return r.ItemOverridesWith(i, r.ECS.Items[i])
}

// ItemOverridesWith is ItemOverrides for an item read elsewhere (line i
// of ecs.itemsFrom). The result is checked against RunTask's limit: an
// item of S3 is seen for the first time here.
func (r Request) ItemOverridesWith(i int, item TaskOverride) (TaskOverride, error) {
	if r.ECS == nil || i < 0 || i >= r.ECS.taskCount() {
		return TaskOverride{}, fmt.Errorf("items: %d is not an item of request %q", i, r.RequestID)
	}
	o := r.ECS.itemOverrides(r.RequestID, i, item)
	if len(o.ContainerOverrides) == 0 {
		return TaskOverride{}, fmt.Errorf("items: item %d of request %q names no container", i, r.RequestID)
	}
	if b, _ := json.Marshal(o); len(b) > MaxOverridesBytes {
		return TaskOverride{}, fmt.Errorf("items: item %d of request %q: overrides are %d bytes as JSON, RunTask takes at most %d", i, r.RequestID, len(b), MaxOverridesBytes)
	}
	return o, nil
}

func (s *ECSSpec) itemOverrides(requestID string, i int, item TaskOverride) TaskOverride {
	var base TaskOverride
	if s.Overrides != nil {
		base = *s.Overrides
	}
	o := MergeOverrides(base, item)
	if s.ItemContainer != "" && o.container(s.ItemContainer) < 0 {
		o.ContainerOverrides = append(o.ContainerOverrides, ContainerOverride{Name: s.ItemContainer})
	}
	for k := range o.ContainerOverrides {
		c := &o.ContainerOverrides[k]
		if c.Environment == nil {
			c.Environment = map[string]string{}
		}
		c.Environment[EnvRequestID] = requestID // the product's values win
		c.Environment[EnvArrayIndex] = strconv.Itoa(i)
	}
	return o
}

// MergeOverrides returns item applied on top of base, sharing no map or
// slice with either: containers match by name (base's order, then the
// item's new ones); an item's command replaces the container's, its
// environment is merged by name with the item winning; the item's task
// cpu, memory and taskRoleArn replace base's when set.
func MergeOverrides(base, item TaskOverride) TaskOverride {
	o := TaskOverride{Cpu: base.Cpu, Memory: base.Memory, TaskRoleArn: base.TaskRoleArn}
	for _, c := range base.ContainerOverrides {
		o.ContainerOverrides = append(o.ContainerOverrides, copyContainer(c))
	}
	for _, c := range item.ContainerOverrides {
		k := o.container(c.Name)
		if k < 0 {
			o.ContainerOverrides = append(o.ContainerOverrides, copyContainer(c))
			continue
		}
		dst := &o.ContainerOverrides[k]
		if len(c.Command) > 0 {
			dst.Command = append([]string(nil), c.Command...)
		}
		if len(c.Environment) > 0 && dst.Environment == nil {
			dst.Environment = map[string]string{}
		}
		maps.Copy(dst.Environment, c.Environment)
	}
	o.Cpu = firstSet(item.Cpu, o.Cpu)
	o.Memory = firstSet(item.Memory, o.Memory)
	o.TaskRoleArn = firstSet(item.TaskRoleArn, o.TaskRoleArn)
	return o
}

func (o TaskOverride) container(name string) int {
	for k, c := range o.ContainerOverrides {
		if c.Name == name {
			return k
		}
	}
	return -1
}

func copyContainer(c ContainerOverride) ContainerOverride {
	c.Command = append([]string(nil), c.Command...) // nil when empty
	c.Environment = maps.Clone(c.Environment)
	return c
}

func firstSet(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
