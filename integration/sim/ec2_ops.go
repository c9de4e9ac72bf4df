package sim

import (
	"encoding/xml"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

type describeInstancesXML struct {
	XMLName xml.Name `xml:"DescribeInstancesResponse"`
	ec2Head
	Reservations []reservationXML `xml:"reservationSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

type filter struct {
	name   string
	values []string
}

// matches reports whether an instance passes every filter (AND across
// filters, OR across a filter's values).
func (in *instance) matches(fs []filter) bool {
	for _, f := range fs {
		var got []string
		switch {
		case f.name == "instance-id":
			got = []string{in.id}
		case f.name == "instance-state-name":
			got = []string{in.state}
		case f.name == "instance-type":
			got = []string{in.instanceType}
		case f.name == "subnet-id":
			got = []string{in.subnet}
		case f.name == "availability-zone":
			got = []string{in.az}
		case f.name == "client-token":
			got = []string{in.clientToken}
		case f.name == "reservation-id":
			got = []string{in.reservation}
		case f.name == "tag-key":
			for _, t := range in.tags {
				got = append(got, t.Key)
			}
		case strings.HasPrefix(f.name, "tag:"):
			for _, t := range in.tags {
				if t.Key == f.name[4:] {
					got = append(got, t.Value)
				}
			}
		}
		if !slices.ContainsFunc(got, func(g string) bool { return slices.Contains(f.values, g) }) {
			return false
		}
	}
	return true
}

var knownFilters = []string{"instance-id", "instance-state-name", "instance-type", "subnet-id",
	"availability-zone", "client-token", "reservation-id", "tag-key"}

func (s *Sim) ec2DescribeInstances(form url.Values) (any, *apiError) {
	ids := indexed(form, "InstanceId")
	var fs []filter
	for i := 1; ; i++ {
		p := "Filter." + strconv.Itoa(i)
		name, ok := form[p+".Name"]
		if !ok {
			break
		}
		if !strings.HasPrefix(name[0], "tag:") && !slices.Contains(knownFilters, name[0]) {
			return nil, ec2Bad("InvalidParameterValue", "The filter '%s' is invalid", name[0])
		}
		fs = append(fs, filter{name: name[0], values: indexed(form, p+".Value")})
	}
	limit, start := 0, 0
	if v := form.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > 1000 {
			return nil, ec2Bad("InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", v)
		}
		if len(ids) > 0 {
			return nil, ec2Bad("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
		}
		limit = n
	}
	if v := form.Get("NextToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, ec2Bad("InvalidParameterValue", "Invalid NextToken %q", v)
		}
		start = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	b := BucketNonMutating
	if len(ids) == 0 && len(fs) == 0 && limit == 0 {
		b = BucketDescribeUnfiltered // AWS throttles unfiltered, unpaginated calls harder
	}
	if _, ok := s.takeAll(now, take{b, 1}); !ok {
		s.stats.throttled["ec2:DescribeInstances"]++
		return nil, ec2Throttle()
	}
	var list []*instance
	if len(ids) > 0 {
		for _, id := range ids {
			in := s.ec2.instances[id]
			if in == nil {
				return nil, ec2Bad("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
			list = append(list, in)
		}
	} else {
		list = s.ec2.order
	}
	out := &describeInstancesXML{Reservations: []reservationXML{}}
	byRes := map[string]int{}
	n := 0
	for i := start; i < len(list); i++ {
		in := list[i]
		if !in.matches(fs) {
			continue
		}
		if limit > 0 && n == limit {
			out.NextToken = strconv.Itoa(i)
			break
		}
		n++
		j, ok := byRes[in.reservation]
		if !ok {
			j = len(out.Reservations)
			byRes[in.reservation] = j
			out.Reservations = append(out.Reservations, reservationXML{ReservationID: in.reservation, OwnerID: s.cfg.Account})
		}
		r := &out.Reservations[j]
		r.Instances = append(r.Instances, in.xml(len(r.Instances)))
	}
	return out, nil
}

type instanceChangeXML struct {
	InstanceID    string   `xml:"instanceId"`
	CurrentState  stateXML `xml:"currentState"`
	PreviousState stateXML `xml:"previousState"`
}

type terminateInstancesXML struct {
	XMLName xml.Name `xml:"TerminateInstancesResponse"`
	ec2Head
	Instances []instanceChangeXML `xml:"instancesSet>item"`
}

func (s *Sim) ec2TerminateInstances(form url.Values) (any, *apiError) {
	ids := indexed(form, "InstanceId")
	if len(ids) == 0 {
		return nil, ec2Bad("MissingParameter", "The request must contain the parameter InstanceId")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	if _, ok := s.takeAll(now, take{BucketTerminateInstances, 1}, take{BucketTerminatedInstances, float64(len(ids))}); !ok {
		s.stats.throttled["ec2:TerminateInstances"]++
		return nil, ec2Throttle()
	}
	for _, id := range ids {
		if s.ec2.instances[id] == nil {
			return nil, ec2Bad("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
	}
	out := &terminateInstancesXML{}
	for _, id := range ids {
		in := s.ec2.instances[id]
		prev := in.state
		if prev != "shutting-down" && prev != "terminated" {
			in.state = "shutting-down"
			s.useCapacity(in, -1)
			s.ledger.stopped(in.entry, now, "TerminateInstances", "User initiated", nil)
			s.sched.at(now.Add(secs(s.cfg.Lifecycle.InstanceShutdownSeconds)), func(time.Time) { in.state = "terminated" })
		}
		out.Instances = append(out.Instances, instanceChangeXML{InstanceID: id, CurrentState: stateOf(in.state), PreviousState: stateOf(prev)})
	}
	return out, nil
}

type createTagsXML struct {
	XMLName xml.Name `xml:"CreateTagsResponse"`
	ec2Head
	Return bool `xml:"return"`
}

func (s *Sim) ec2CreateTags(form url.Values) (any, *apiError) {
	ids := indexed(form, "ResourceId")
	tags := tagsOf(form, "Tag")
	if len(ids) == 0 {
		return nil, ec2Bad("MissingParameter", "The request must contain the parameter ResourceId")
	}
	if len(tags) == 0 {
		return nil, ec2Bad("MissingParameter", "The request must contain the parameter Tag")
	}
	for _, t := range tags {
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return nil, ec2Bad("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	if _, ok := s.takeAll(now, take{BucketCreateTags, 1}); !ok {
		s.stats.throttled["ec2:CreateTags"]++
		return nil, ec2Throttle()
	}
	for _, id := range ids {
		if strings.HasPrefix(id, "i-") && s.ec2.instances[id] == nil {
			return nil, ec2Bad("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
	}
	for _, id := range ids {
		in := s.ec2.instances[id]
		if in == nil {
			continue
		}
		for _, t := range tags {
			if i := slices.IndexFunc(in.tags, func(x ec2Tag) bool { return x.Key == t.Key }); i >= 0 {
				in.tags[i].Value = t.Value
			} else {
				in.tags = append(slices.Clip(in.tags), t)
			}
		}
	}
	return &createTagsXML{Return: true}, nil
}
