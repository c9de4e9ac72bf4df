package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"

	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
)

// ThrottleStackProps configures NewThrottleStack. The zero Settings are not
// valid: at least the ECS part (Clusters + TaskDefinitions) or the EC2 part
// (LaunchTemplates + Subnets) must be set, because the launch permissions
// are scoped to exactly those resources.
type ThrottleStackProps struct {
	awscdk.StackProps
	settings.Settings

	// AssetDir holds one folder per function with its bootstrap binary
	// (build/<name>/bootstrap, made by `make build`). Default: the
	// repository's build/.
	AssetDir string
	// StateMachineDir holds the *.asl.json definitions. Default: the
	// repository's statemachines/.
	StateMachineDir string
	// RulesDir holds the EventBridge rule files. Default:
	// StateMachineDir/rules.
	RulesDir string
}

// retentionDays maps days to the CDK enum; "" for a value CloudWatch
// does not accept.
func retentionDays(days int) awslogs.RetentionDays {
	switch days {
	case 1:
		return awslogs.RetentionDays_ONE_DAY
	case 3:
		return awslogs.RetentionDays_THREE_DAYS
	case 5:
		return awslogs.RetentionDays_FIVE_DAYS
	case 7:
		return awslogs.RetentionDays_ONE_WEEK
	case 14:
		return awslogs.RetentionDays_TWO_WEEKS
	case 30:
		return awslogs.RetentionDays_ONE_MONTH
	case 60:
		return awslogs.RetentionDays_TWO_MONTHS
	case 90:
		return awslogs.RetentionDays_THREE_MONTHS
	case 120:
		return awslogs.RetentionDays_FOUR_MONTHS
	case 150:
		return awslogs.RetentionDays_FIVE_MONTHS
	case 180:
		return awslogs.RetentionDays_SIX_MONTHS
	case 365:
		return awslogs.RetentionDays_ONE_YEAR
	case 400:
		return awslogs.RetentionDays_THIRTEEN_MONTHS
	case 545:
		return awslogs.RetentionDays_EIGHTEEN_MONTHS
	case 731:
		return awslogs.RetentionDays_TWO_YEARS
	case 1096:
		return awslogs.RetentionDays_THREE_YEARS
	case 1827:
		return awslogs.RetentionDays_FIVE_YEARS
	case 2192:
		return awslogs.RetentionDays_SIX_YEARS
	case 2557:
		return awslogs.RetentionDays_SEVEN_YEARS
	case 2922:
		return awslogs.RetentionDays_EIGHT_YEARS
	case 3288:
		return awslogs.RetentionDays_NINE_YEARS
	case 3653:
		return awslogs.RetentionDays_TEN_YEARS
	}
	return ""
}
