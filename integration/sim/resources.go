package sim

import "maps"

// DefaultResources is the account a strict simulator has when Config leaves
// a list empty: every cluster, task definition family, subnet, launch
// template and instance type the README, docs/, the demo, integration/cmd
// and the test suites use, so they run strict. The subnets' zones are left
// empty: the simulator's stable guess (a, b or c of the region by the
// subnet ID) places them, as it did before they were listed.
func DefaultResources() Resources {
	return Resources{
		Clusters:        []string{"default", "jobs", "ec2-jobs", "demo", "bench", "batch", "other"},
		TaskDefinitions: []string{"job", "sample-fargate", "render", "web"},
		Subnets: map[string]string{
			"subnet-a": "", "subnet-b": "", "subnet-c": "",
			"subnet-0a1b2c3d": "", "subnet-0a1b2c3d4e5f60718": "",
		},
		LaunchTemplates: map[string]string{
			"lt-1": "c7g.large", "lt-0123456789abcdef0": "c7g.large", "lt-bench": "c7g.large",
		},
		InstanceTypes: []string{"c7g.large", "c7g.2xlarge", "c6g.large", "c5.large", "m5.large", "m7g.large"},
	}
}

// withDefaults fills each empty list from DefaultResources.
func (r Resources) withDefaults() Resources {
	d := DefaultResources()
	if len(r.Clusters) == 0 {
		r.Clusters = d.Clusters
	}
	if len(r.TaskDefinitions) == 0 {
		r.TaskDefinitions = d.TaskDefinitions
	}
	if len(r.Subnets) == 0 {
		r.Subnets = maps.Clone(d.Subnets)
	}
	if len(r.LaunchTemplates) == 0 {
		r.LaunchTemplates = maps.Clone(d.LaunchTemplates)
	}
	if len(r.InstanceTypes) == 0 {
		r.InstanceTypes = d.InstanceTypes
	}
	return r
}
