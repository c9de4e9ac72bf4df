package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// addBusPolicy lets the accounts of eventSourceAccounts, and the accounts
// of the organizationId organization, put LaunchRequested events of the
// product's source on the product bus: a resource-based policy on the bus
// (AWS page "Permissions for event buses in Amazon EventBridge"), with the
// events:detail-type and events:source conditions EventBridge evaluates on
// PutEvents. A rule in such an account that forwards to this bus is held
// to the same conditions. Without either setting the bus has no policy:
// only this account's principals with IAM permission may put events.
//
// submit namespaces the request ID of an event from another account by
// that account, so two accounts cannot collide on one execution name.
func (p *parts) addBusPolicy() {
	s := p.settings
	if len(s.EventSourceAccounts) > 0 {
		var roots []any
		for _, acct := range s.EventSourceAccounts {
			roots = append(roots, "arn:"+*p.stack.Partition()+":iam::"+acct+":root")
		}
		p.busPolicy("LaunchRequestedFromAccounts", roots, nil)
	}
	if s.OrganizationID != "" {
		// Principal "*" limited by aws:PrincipalOrgID: every account of the
		// organization, the way the AWS page grants an organization.
		p.busPolicy("LaunchRequestedFromOrganization", "*", map[string]any{"aws:PrincipalOrgID": s.OrganizationID})
	}
}

// busPolicy adds one statement, sid, to the bus's resource-based policy as
// an AWS::Events::EventBusPolicy of its own. Written as a plain resource:
// EventBus.AddToResourcePolicy prefixes the Sid with "cdk-", and the typed
// CfnEventBusPolicy makes jsii print a deprecation warning (its Principal
// property) at every synthesis.
func (p *parts) busPolicy(sid string, principal any, extra map[string]any) {
	detailType := map[string]any{"events:detail-type": launchRequestedDetailType}
	for k, v := range extra {
		detailType[k] = v
	}
	awscdk.NewCfnResource(p.scope, jsii.String("BusPolicy"+sid), &awscdk.CfnResourceProps{
		Type: jsii.String("AWS::Events::EventBusPolicy"),
		Properties: &map[string]any{
			"EventBusName": p.bus.EventBusName(),
			"StatementId":  sid,
			"Statement": map[string]any{
				"Sid":       sid,
				"Effect":    "Allow",
				"Principal": map[string]any{"AWS": principal},
				"Action":    "events:PutEvents",
				"Resource":  p.bus.EventBusArn(),
				"Condition": map[string]any{
					"StringEquals":              detailType,
					"ForAllValues:StringEquals": map[string]any{"events:source": []any{launchRequestedSource}},
				},
			},
		},
	})
}
