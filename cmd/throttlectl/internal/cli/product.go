package cli

import (
	"context"
	"flag"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/handler/wire"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// names are the deployed product's resources. Flags win over the TH_*
// variables (pkg/config), which the CDK stack's outputs carry.
type names struct {
	machine, bus, table string
}

func (n *names) register(fs *flag.FlagSet) {
	fs.StringVar(&n.machine, "state-machine-arn", "", "launch state machine ARN (default "+config.EnvStateMachineARN+"; stack output StateMachineArn)")
	fs.StringVar(&n.bus, "event-bus", "", "the product's event bus (default "+config.EnvEventBus+"; stack output EventBusName)")
	fs.StringVar(&n.table, "table", "", "the product's DynamoDB table (default "+config.EnvTable+"; stack output TableName)")
}

// product is what a command needs to reach the deployed (or local)
// product: the resolved names and the clients.
type product struct {
	deps lambdafn.Deps
	names
}

// what says which names a command needs.
const (
	needMachine = 1 << iota
	needBus
	needTable
)

// product resolves the names (flags over environment) and checks that the
// ones the command needs are set, naming the variable, the flag and the
// stack output when one is missing.
func (a *App) product(ctx context.Context, n names, need int) (*product, error) {
	d, err := a.Deps(ctx)
	if err != nil {
		return nil, err
	}
	p := &product{deps: d, names: n}
	if p.machine == "" {
		p.machine = d.Config.StateMachineARN
	}
	if p.bus == "" {
		p.bus = d.Config.EventBus
	}
	if p.table == "" {
		p.table = d.Config.Table
	}
	missing := func(what, env, flag, output string) error {
		return fmt.Errorf("%s unknown: set %s or pass --%s (the deployed stack's output %s; locally, the export lines of go run ./integration/cmd/awslocal)", what, env, flag, output)
	}
	switch {
	case need&needMachine != 0 && p.machine == "":
		return nil, missing("launch state machine", config.EnvStateMachineARN, "state-machine-arn", "StateMachineArn")
	case need&needBus != 0 && p.bus == "":
		return nil, missing("product event bus", config.EnvEventBus, "event-bus", "EventBusName")
	case need&needTable != 0 && p.table == "":
		return nil, missing("product table", config.EnvTable, "table", "TableName")
	}
	return p, nil
}

func (p *product) sfn() *sfn.Client            { return sfn.NewFromConfig(p.deps.AWS) }
func (p *product) events() *eventbridge.Client { return eventbridge.NewFromConfig(p.deps.AWS) }
func (p *product) store() launchstore.Store {
	return launchstore.NewDynamoDB(dynamodb.NewFromConfig(p.deps.AWS), p.table)
}

// limiter is the fleet's limiter as the functions build it (same table,
// limits and account scope), for reading its state.
func (p *product) limiter() (*limiter.Distributed, error) {
	return wire.NewLimiter(limiter.NewDynamoStore(dynamodb.NewFromConfig(p.deps.AWS), p.table), p.deps.Config)
}
