package sim

import (
	"encoding/json"
	"strconv"
	"strings"
)

// defaultTaskCPU is the cpu units of the simulator's task definitions (as
// DescribeTaskDefinition answers): 0.25 vCPU.
const defaultTaskCPU = 256

// taskCPU returns the cpu units a RunTask call's tasks reserve: the
// overrides' cpu ("512", or "1 vCPU"), else the task definition's.
func taskCPU(overrides json.RawMessage) int {
	var o struct {
		CPU string `json:"cpu"`
	}
	if len(overrides) == 0 || json.Unmarshal(overrides, &o) != nil || o.CPU == "" {
		return defaultTaskCPU
	}
	v := strings.TrimSpace(strings.ToLower(o.CPU))
	if n, ok := strings.CutSuffix(v, "vcpu"); ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(n), 64); err == nil && f > 0 {
			return int(f * 1024)
		}
		return defaultTaskCPU
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return n
	}
	return defaultTaskCPU
}

// fargateVCPURoom reports whether a Fargate task of units cpu units fits
// under the account's On-Demand or Spot vCPU quota. Callers hold s.mu.
func (s *Sim) fargateVCPURoom(kind launchKind, units int) bool {
	limit, used := s.cfg.Capacity.FargateVCPULimit, s.ecs.fargateCPU
	if kind.spot {
		limit, used = s.cfg.Capacity.FargateSpotVCPULimit, s.ecs.fargateSpotCPU
	}
	return limit < 0 || used+units <= limit*1024
}

// useFargateVCPU adds (or, with a negative sign, frees) a task's vCPUs.
// Callers hold s.mu.
func (s *Sim) useFargateVCPU(t *task, sign int) {
	if !t.kind.fargate {
		return
	}
	if t.kind.spot {
		s.ecs.fargateSpotCPU += sign * t.cpuUnits
	} else {
		s.ecs.fargateCPU += sign * t.cpuUnits
	}
}
