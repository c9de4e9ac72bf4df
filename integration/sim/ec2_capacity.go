package sim

import "strings"

// instanceRoom returns how many instances (between MinCount and MaxCount)
// the account can launch, or the error of the first limit that leaves fewer
// than MinCount: the vCPU quota, the spot limit, the subnet's free
// addresses, then the zone's capacity for the type.
func (s *Sim) instanceRoom(in *runInstancesInput) (int, *apiError) {
	c := s.cfg.Capacity
	n := in.max
	limit := func(room int, err func() *apiError) *apiError {
		if room < in.min {
			return err()
		}
		n = min(n, room)
		return nil
	}
	v := vcpusOf(in.instanceType)
	if c.VCPULimit > 0 && !in.spot {
		if e := limit((c.VCPULimit-s.ec2.vcpus)/v, func() *apiError {
			return ec2Bad("VcpuLimitExceeded", "You have requested more vCPU capacity than your current vCPU limit of %d allows for the instance bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.", c.VCPULimit)
		}); e != nil {
			return 0, e
		}
	}
	if c.SpotInstanceLimit > 0 && in.spot {
		if e := limit(c.SpotInstanceLimit-s.ec2.spot, func() *apiError {
			return ec2Bad("MaxSpotInstanceCountExceeded", "Max spot instance count exceeded")
		}); e != nil {
			return 0, e
		}
	}
	if a, ok := c.SubnetAddresses[in.subnet]; ok && a > 0 {
		if e := limit(a-s.ec2.used["subnet:"+in.subnet], func() *apiError {
			return ec2Bad("InsufficientFreeAddressesInSubnet", "There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.", in.subnet)
		}); e != nil {
			return 0, e
		}
	}
	for _, key := range []string{in.instanceType + "/" + in.az, in.instanceType} {
		if capN, ok := c.InstanceTypes[key]; ok && capN > 0 {
			if e := limit(capN-s.ec2.used[key], func() *apiError {
				return errorf(500, "InsufficientInstanceCapacity",
					"We currently do not have sufficient %s capacity in the Availability Zone you requested (%s). Our system will be working on provisioning additional capacity. You can currently get %s capacity by not specifying an Availability Zone in your request or choosing %s.",
					in.instanceType, in.az, in.instanceType, s.otherZones(in.az))
			}); e != nil {
				return 0, e
			}
		}
	}
	return n, nil
}

func (s *Sim) otherZones(az string) string {
	var out []string
	for _, z := range []string{"a", "b", "c"} {
		if zone := s.cfg.Region + z; zone != az {
			out = append(out, zone)
		}
	}
	return strings.Join(out, ", ")
}

func (s *Sim) useCapacity(in *instance, d int) {
	s.ec2.used[in.instanceType+"/"+in.az] += d
	s.ec2.used[in.instanceType] += d
	s.ec2.used["subnet:"+in.subnet] += d
	if in.spot {
		s.ec2.spot += d
	} else {
		s.ec2.vcpus += d * in.vcpus
	}
}
