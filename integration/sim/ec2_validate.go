package sim

import (
	"crypto/sha256"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

func ec2Bad(code, format string, args ...any) *apiError { return errorf(400, code, format, args...) }

func parseRunInstances(form url.Values) (runInstancesInput, *apiError) {
	in := runInstancesInput{
		imageID: form.Get("ImageId"), instanceType: form.Get("InstanceType"), token: form.Get("ClientToken"),
		subnet: form.Get("SubnetId"), az: form.Get("Placement.AvailabilityZone"),
		ltID: form.Get("LaunchTemplate.LaunchTemplateId"), ltName: form.Get("LaunchTemplate.LaunchTemplateName"),
		spot: form.Get("InstanceMarketOptions.MarketType") == "spot",
	}
	if in.subnet == "" {
		in.subnet = form.Get("NetworkInterface.1.SubnetId")
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"MinCount", &in.min}, {"MaxCount", &in.max}} {
		v := form.Get(f.name)
		if v == "" {
			return in, ec2Bad("MissingParameter", "The request must contain the parameter %s", f.name)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return in, ec2Bad("InvalidParameterValue", "Value (%s) for parameter %s is invalid. Expected a positive integer.", v, strings.ToLower(f.name[:1])+f.name[1:])
		}
		*f.dst = n
	}
	if in.min > in.max {
		return in, ec2Bad("InvalidParameterValue", "Value (%d) for parameter maxCount is invalid. maxCount must be greater than or equal to minCount (%d).", in.max, in.min)
	}
	if in.token != "" && !validClientToken(in.token) {
		return in, ec2Bad("InvalidClientToken", "The client token is malformed or invalid: it must be 1 to 64 ASCII characters.")
	}
	if in.imageID == "" && in.ltID == "" && in.ltName == "" {
		return in, ec2Bad("MissingParameter", "The request must contain the parameter ImageId")
	}
	for i := 1; ; i++ {
		p := "TagSpecification." + strconv.Itoa(i)
		rt, ok := form[p+".ResourceType"]
		if !ok {
			break
		}
		switch rt[0] {
		case "instance":
			in.tags = append(in.tags, tagsOf(form, p+".Tag")...)
		case "volume", "network-interface", "spot-instances-request", "elastic-gpu":
		default:
			return in, ec2Bad("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt[0])
		}
	}
	if len(in.tags) > 50 {
		return in, ec2Bad("TagLimitExceeded", "The maximum number of tags for a resource is 50.")
	}
	for _, t := range in.tags {
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return in, ec2Bad("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
		if len(t.Key) == 0 || len(t.Key) > 128 || len(t.Value) > 256 {
			return in, ec2Bad("InvalidParameterValue", "Tag key must be 1-128 characters and value at most 256 (key '%s')", t.Key)
		}
	}
	return in, nil
}

// formHash identifies a Query request's parameters other than the ones
// idempotency ignores (the action, version, client token and zone).
func formHash(form url.Values) [32]byte {
	keys := make([]string, 0, len(form))
	for k := range form {
		switch k {
		case "Action", "Version", "ClientToken", "Placement.AvailabilityZone":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%q&", k, form[k])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
