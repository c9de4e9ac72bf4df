package sim

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

type ec2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type stateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

var instanceStates = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48}

func stateOf(name string) stateXML { return stateXML{Code: instanceStates[name], Name: name} }

// instance is one EC2 instance. Guarded by the Sim's mutex.
type instance struct {
	id, reservation, imageID, instanceType string
	subnet, az, clientToken, ip            string
	spot                                   bool
	vcpus                                  int
	launchTime                             time.Time
	runningAt                              time.Time
	state                                  string
	tags                                   []ec2Tag
	entry                                  int
}

// ec2Idem is what a RunInstances client token is bound to.
type ec2Idem struct {
	params    [32]byte
	instances []*instance
	expires   time.Time
}

// ec2State is the EC2 side of the account. Guarded by the Sim's mutex.
type ec2State struct {
	instances map[string]*instance
	order     []*instance
	tokens    map[string]*ec2Idem
	used      map[string]int // live instances per "type/az", "type", "subnet:<id>"
	vcpus     int            // live On-Demand vCPUs
	spot      int            // live spot instances
}

func (e *ec2State) init() {
	e.instances = map[string]*instance{}
	e.tokens = map[string]*ec2Idem{}
	e.used = map[string]int{}
}

// vcpusOf estimates an instance type's vCPUs from its size: large 2,
// xlarge 4, Nxlarge 4N, smaller sizes 1 (2 for medium).
func vcpusOf(instanceType string) int {
	_, size, _ := strings.Cut(instanceType, ".")
	switch size {
	case "nano", "micro", "small":
		return 1
	case "medium", "large":
		return 2
	case "xlarge":
		return 4
	case "metal":
		return 96
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(size, "xlarge")); err == nil && strings.HasSuffix(size, "xlarge") {
		return 4 * n
	}
	return 2
}

type instanceXML struct {
	InstanceID        string   `xml:"instanceId"`
	ImageID           string   `xml:"imageId"`
	State             stateXML `xml:"instanceState"`
	PrivateDNSName    string   `xml:"privateDnsName"`
	AmiLaunchIndex    int      `xml:"amiLaunchIndex"`
	InstanceType      string   `xml:"instanceType"`
	LaunchTime        string   `xml:"launchTime"`
	AvailabilityZone  string   `xml:"placement>availabilityZone"`
	SubnetID          string   `xml:"subnetId"`
	VpcID             string   `xml:"vpcId"`
	PrivateIPAddress  string   `xml:"privateIpAddress"`
	ClientToken       string   `xml:"clientToken,omitempty"`
	InstanceLifecycle string   `xml:"instanceLifecycle,omitempty"`
	Tags              []ec2Tag `xml:"tagSet>item"`
}

func (in *instance) xml(index int) instanceXML {
	x := instanceXML{
		InstanceID: in.id, ImageID: in.imageID, State: stateOf(in.state), AmiLaunchIndex: index,
		PrivateDNSName: "ip-" + strings.ReplaceAll(in.ip, ".", "-") + ".ec2.internal",
		InstanceType:   in.instanceType, LaunchTime: in.launchTime.UTC().Format("2006-01-02T15:04:05.000Z"),
		AvailabilityZone: in.az, SubnetID: in.subnet, VpcID: "vpc-0a1b2c3d", PrivateIPAddress: in.ip,
		ClientToken: in.clientToken, Tags: in.tags,
	}
	if in.spot {
		x.InstanceLifecycle = "spot"
	}
	return x
}

type reservationXML struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []instanceXML `xml:"instancesSet>item"`
}

type runInstancesXML struct {
	XMLName xml.Name `xml:"RunInstancesResponse"`
	ec2Head
	reservationXML
}

func (s *Sim) reservation(list []*instance) *runInstancesXML {
	out := &runInstancesXML{reservationXML: reservationXML{OwnerID: s.cfg.Account}}
	for i, in := range list {
		out.ReservationID = in.reservation
		out.Instances = append(out.Instances, in.xml(i))
	}
	return out
}

// runInstancesInput is the part of RunInstances the simulator models.
type runInstancesInput struct {
	imageID, instanceType, subnet, az, token string
	ltID, ltName                             string
	min, max                                 int
	spot                                     bool
	tags                                     []ec2Tag
}

func (s *Sim) ec2RunInstances(form url.Values) (any, *apiError) {
	in, e := parseRunInstances(form)
	if e != nil {
		return nil, e
	}
	ph := formHash(form)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	var prior *ec2Idem
	if in.token != "" {
		if p := s.ec2.tokens[in.token]; p != nil && now.Before(p.expires) {
			prior = p
		}
	}
	takes := []take{{BucketRunInstances, 1}}
	if prior == nil {
		takes = append(takes, take{BucketInstances, float64(in.max)})
	}
	if _, ok := s.takeAll(now, takes...); !ok {
		s.stats.throttled["ec2:RunInstances"]++
		return nil, ec2Throttle()
	}
	if prior != nil {
		if prior.params != ph {
			return nil, ec2Bad("IdempotentParameterMismatch", "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).")
		}
		return s.reservation(prior.instances), nil
	}
	if e := s.resolveInstance(&in); e != nil {
		return nil, e
	}
	n, e := s.instanceRoom(&in)
	if e != nil {
		return nil, e
	}
	list := s.launchInstances(now, &in, n)
	if in.token != "" {
		s.ec2.tokens[in.token] = &ec2Idem{params: ph, instances: list, expires: now.Add(secs(s.cfg.Tokens.LifetimeSeconds))}
	}
	return s.reservation(list), nil
}

// resolveInstance fills the instance type and zone, and in strict mode
// rejects what the account does not have.
func (s *Sim) resolveInstance(in *runInstancesInput) *apiError {
	r := s.cfg.Resources
	if s.cfg.Strict {
		if in.ltID != "" && len(r.LaunchTemplates) > 0 {
			if _, ok := r.LaunchTemplates[in.ltID]; !ok {
				return ec2Bad("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", in.ltID)
			}
		}
		if in.subnet != "" && len(r.Subnets) > 0 {
			if _, ok := r.Subnets[in.subnet]; !ok {
				return ec2Bad("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", in.subnet)
			}
		}
		if in.instanceType != "" && len(r.InstanceTypes) > 0 && !slices.Contains(r.InstanceTypes, in.instanceType) {
			return ec2Bad("InvalidParameterValue", "Invalid value '%s' for InstanceType.", in.instanceType)
		}
	}
	if in.instanceType == "" {
		in.instanceType = r.LaunchTemplates[in.ltID]
	}
	if in.instanceType == "" {
		in.instanceType = "m5.large"
	}
	if in.imageID == "" {
		in.imageID = "ami-0abcdef1234567890"
	}
	if in.subnet == "" {
		in.subnet = "subnet-default"
	}
	if in.az == "" {
		in.az = s.azOf(in.subnet)
	}
	return nil
}

func (s *Sim) launchInstances(now time.Time, in *runInstancesInput, n int) []*instance {
	res := fmt.Sprintf("r-0%016x", s.nextID())
	list := make([]*instance, 0, n)
	for i := 0; i < n; i++ {
		id := s.nextID()
		inst := &instance{
			id: fmt.Sprintf("i-0%016x", id), reservation: res, imageID: in.imageID,
			instanceType: in.instanceType, subnet: in.subnet, az: in.az, clientToken: in.token,
			ip: fmt.Sprintf("10.%d.%d.%d", byte(id>>16), byte(id>>8), byte(id)|1), spot: in.spot,
			vcpus: vcpusOf(in.instanceType), launchTime: now, state: "pending", tags: slices.Clone(in.tags),
		}
		s.ec2.instances[inst.id] = inst
		s.ec2.order = append(s.ec2.order, inst)
		s.useCapacity(inst, 1)
		s.stats.instancesLaunched++
		tags := make(map[string]string, len(in.tags))
		for _, t := range in.tags {
			tags[t.Key] = t.Value
		}
		inst.entry = s.ledger.add(LedgerEntry{Kind: KindInstance, ID: inst.id, ClientToken: in.token,
			StartedBy: tags[TagStartedBy], Tags: tags, LaunchedAt: now})
		s.sched.at(now.Add(secs(s.cfg.Lifecycle.InstancePendingSeconds)), func(at time.Time) {
			if inst.state == "pending" {
				inst.state, inst.runningAt = "running", at
			}
		})
		list = append(list, inst)
	}
	return list
}
