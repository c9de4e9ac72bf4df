package sim

import (
	"encoding/xml"
	"net/url"
	"time"
)

type statusDetailXML struct {
	Name   string `xml:"name"`
	Status string `xml:"status"`
}

type statusSummaryXML struct {
	Status  string            `xml:"status"`
	Details []statusDetailXML `xml:"details>item,omitempty"`
}

type instanceStatusXML struct {
	InstanceID       string           `xml:"instanceId"`
	AvailabilityZone string           `xml:"availabilityZone"`
	InstanceState    stateXML         `xml:"instanceState"`
	SystemStatus     statusSummaryXML `xml:"systemStatus"`
	InstanceStatus   statusSummaryXML `xml:"instanceStatus"`
}

type describeInstanceStatusXML struct {
	XMLName xml.Name `xml:"DescribeInstanceStatusResponse"`
	ec2Head
	Statuses []instanceStatusXML `xml:"instanceStatusSet>item"`
}

// ec2DescribeInstanceStatus follows Amazon EC2 API Reference:
// "DescribeInstanceStatus": running instances only unless
// IncludeAllInstances; status checks initializing for
// Lifecycle.InstanceStatusSeconds after the instance runs, then ok;
// not-applicable for an instance that is not running. An unknown ID is
// InvalidInstanceID.NotFound. It draws on the non-mutating bucket.
func (s *Sim) ec2DescribeInstanceStatus(form url.Values) (any, *apiError) {
	ids := indexed(form, "InstanceId")
	all := form.Get("IncludeAllInstances") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	if _, ok := s.takeAll(now, take{BucketNonMutating, 1}); !ok {
		s.stats.throttled["ec2:DescribeInstanceStatus"]++
		return nil, ec2Throttle()
	}
	list := s.ec2.order
	if len(ids) > 0 {
		list = nil
		for _, id := range ids {
			in := s.ec2.instances[id]
			if in == nil {
				return nil, ec2Bad("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
			list = append(list, in)
		}
	}
	out := &describeInstanceStatusXML{Statuses: []instanceStatusXML{}}
	for _, in := range list {
		if in.state != "running" && !all {
			continue
		}
		st := s.statusChecks(in, now)
		sum := statusSummaryXML{Status: st}
		if st != "not-applicable" {
			detail := map[string]string{"ok": "passed", "initializing": "initializing"}[st]
			sum.Details = []statusDetailXML{{Name: "reachability", Status: detail}}
		}
		out.Statuses = append(out.Statuses, instanceStatusXML{InstanceID: in.id, AvailabilityZone: in.az,
			InstanceState: stateOf(in.state), SystemStatus: sum, InstanceStatus: sum})
	}
	return out, nil
}

// statusChecks is an instance's status-check summary at now.
func (s *Sim) statusChecks(in *instance, now time.Time) string {
	switch {
	case in.state != "running":
		return "not-applicable"
	case s.cfg.Lifecycle.NoInstanceStatusDelay, !now.Before(in.runningAt.Add(secs(s.cfg.Lifecycle.InstanceStatusSeconds))):
		return "ok"
	}
	return "initializing"
}
