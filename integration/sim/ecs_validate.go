package sim

import "strings"

// validStartedBy: up to 36 letters, digits, hyphens, forward slashes and
// underscores.
func validStartedBy(s string) bool {
	if len(s) > 36 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '/' || c == '_') {
			return false
		}
	}
	return true
}

// validClientToken: 1 to 64 ASCII characters in 33–126.
func validClientToken(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

// validateRunTask checks RunTask's documented parameter constraints, with
// the codes ECS answers.
func validateRunTask(in *runTaskInput) *apiError {
	bad := func(format string, args ...any) *apiError {
		return errorf(400, "InvalidParameterException", format, args...)
	}
	if strings.TrimSpace(in.TaskDefinition) == "" {
		return bad("taskDefinition: TaskDefinition can not be blank.")
	}
	if in.Count != nil && (*in.Count < 1 || *in.Count > 10) {
		return bad("count: Invalid count %d: a RunTask call can start between 1 and 10 tasks.", *in.Count)
	}
	if in.StartedBy != "" && !validStartedBy(in.StartedBy) {
		return bad("startedBy: up to 36 letters (uppercase and lowercase), numbers, hyphens (-), forward slashes (/), and underscores (_) are allowed; got %q.", in.StartedBy)
	}
	if in.ClientToken != "" && !validClientToken(in.ClientToken) {
		return bad("clientToken: must be 1 to 64 ASCII characters in the range 33-126.")
	}
	if len(in.Group) > 255 {
		return bad("group: must be at most 255 characters.")
	}
	if len(in.Tags) > 50 {
		return bad("tags: a resource can have at most 50 tags, got %d.", len(in.Tags))
	}
	for _, t := range in.Tags {
		if len(t.Key) < 1 || len(t.Key) > 128 || len(t.Value) > 256 {
			return bad("tags: tag keys must be 1-128 characters and values at most 256 characters (key %q).", t.Key)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return bad("tags: tag keys may not start with the reserved prefix aws: (key %q).", t.Key)
		}
	}
	if len(in.Overrides) > 8192 {
		return bad("overrides: Container Overrides length must be at most 8192.")
	}
	if len(in.PlacementConstraints) > 10 {
		return bad("placementConstraints: at most 10 placement constraints are allowed.")
	}
	if len(in.PlacementStrategy) > 5 {
		return bad("placementStrategy: at most 5 placement strategies are allowed.")
	}
	if len(in.CapacityProviderStrategy) > 20 {
		return bad("capacityProviderStrategy: at most 20 capacity providers are allowed.")
	}
	if in.LaunchType != "" && len(in.CapacityProviderStrategy) > 0 {
		return bad("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	}
	switch in.LaunchType {
	case "", "EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES":
	default:
		return bad("launchType: %q is not one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES.", in.LaunchType)
	}
	if kindOf(in).fargate && len(in.subnets()) == 0 && (in.NetworkConfiguration == nil || in.NetworkConfiguration.AwsvpcConfiguration == nil) {
		return bad("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	}
	if len(in.subnets()) > 16 {
		return bad("subnets: at most 16 subnets are allowed.")
	}
	if in.NetworkConfiguration != nil && in.NetworkConfiguration.AwsvpcConfiguration != nil && len(in.subnets()) == 0 {
		return bad("subnets can not be empty.")
	}
	return nil
}
