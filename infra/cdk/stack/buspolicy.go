package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// addBusPolicy lets the accounts of eventSourceAccounts, and the accounts
// of the organizationId organization, put LaunchRequested events of the
// product's source on the product bus: a resource-based policy on the bus
// (AWS page "Permissions for event buses in Amazon EventBridge"), with the
// events:detail-type and events:source conditions EventBridge evaluates on
// PutEvents. A rule in such an account that forwards to this bus sends
// through it too. Without either setting the bus has no policy: only this
// account's principals with IAM permission may put events.
//
// submit namespaces the request ID of an event from another account by
// that account, so two accounts cannot collide on one execution name.
func (p *parts) addBusPolicy() {
	s := p.settings
	if len(s.EventSourceAccounts) > 0 {
		var principals []awsiam.IPrincipal
		for _, acct := range s.EventSourceAccounts {
			principals = append(principals, awsiam.NewAccountPrincipal(jsii.String(acct)))
		}
		p.bus.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("LaunchRequestedFromAccounts"),
			Principals: &principals,
			Actions:    jsii.Strings("events:PutEvents"),
			Resources:  &[]*string{p.bus.EventBusArn()},
			Conditions: busConditions(nil),
		}))
	}
	if s.OrganizationID != "" {
		// Principal "*" limited by aws:PrincipalOrgID: every account of the
		// organization, as the AWS page grants an organization.
		p.bus.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("LaunchRequestedFromOrganization"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("events:PutEvents"),
			Resources:  &[]*string{p.bus.EventBusArn()},
			Conditions: busConditions(map[string]any{"aws:PrincipalOrgID": s.OrganizationID}),
		}))
	}
}

// busConditions are launchRequestedOnly's conditions, with extra
// StringEquals keys.
func busConditions(extra map[string]any) *map[string]any {
	out := map[string]any{}
	for op, kv := range *launchRequestedOnly() {
		m := map[string]any{}
		for k, v := range *kv {
			m[k] = v
		}
		if op == "StringEquals" {
			for k, v := range extra {
				m[k] = v
			}
		}
		out[op] = m
	}
	return &out
}
