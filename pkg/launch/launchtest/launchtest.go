// Package launchtest holds small launch requests shared by the tests of the
// launch packages and of the store implementations.
package launchtest

import (
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// T0 is the fixed start time of the launch tests.
var T0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// ECSRequest is a valid Fargate request of count tasks on one subnet.
func ECSRequest(id string, count int) launch.Request {
	return launch.Request{RequestID: id, ECS: &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:3", Count: count, LaunchType: "FARGATE",
		NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a"}}}}}
}

// EC2Request is a valid EC2 request of count instances over two instance
// types and two subnets.
func EC2Request(id string, count int) launch.Request {
	return launch.Request{RequestID: id, EC2: &launch.EC2Spec{LaunchTemplate: launch.LaunchTemplate{LaunchTemplateID: "lt-1"},
		InstanceTypes: []string{"c7g.large", "c6g.large"}, SubnetIDs: []string{"subnet-a", "subnet-b"}, Count: count}}
}
