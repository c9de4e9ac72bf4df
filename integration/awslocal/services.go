package awslocal

import "context"

// ServicesOptions configure the services beyond ECS and EC2 (Step Functions,
// Lambda, EventBridge, SQS, DynamoDB). Placeholder: the local-stack issue
// replaces this file.
type ServicesOptions struct{}

// startServices starts the other services on s.Edge, s.Clock and s.Sim
// (e.g. s.Sim.SetSink(bus) and s.SetEnv("AWS_ENDPOINT_URL_SFN", s.Endpoint)).
// Placeholder: nothing to start yet.
func (s *Stack) startServices(ctx context.Context, o Options) error { return nil }

// closeServices stops what startServices started. Placeholder.
func (s *Stack) closeServices() {}
